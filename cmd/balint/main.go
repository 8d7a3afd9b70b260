// Command balint runs the Balint CDS Hooks service.
//
//	go run ./cmd/balint --dev      # local: demo patients, SQLite, no EHR auth
//
// Configuration is by environment (see README, "Configuration"); flags
// override it. config.go reads it (the Env table holds every default),
// wire.go turns it into instances, main.go serves them until a signal.
// The end-to-end tests of the whole service live here, beside the wiring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	// The image has no zoneinfo; BALINT_TIMEZONE must still load.
	_ "time/tzdata"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func main() {
	err := run()
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Print(usage())
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "balint:", err)
		if sub, ok := subcommandOf(os.Args); ok {
			fmt.Fprint(os.Stderr, sub.usage)
		} else {
			fmt.Fprint(os.Stderr, usage())
		}
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "balint:", err)
		os.Exit(1)
	}
}

// subcommand is a command of the binary beside serving: its help, and
// what it runs with the arguments after its name.
type subcommand struct {
	usage string
	run   func(ctx context.Context, args []string) error
}

// subcommandOf is the subcommand args name, if any.
func subcommandOf(args []string) (subcommand, bool) {
	if len(args) < 2 {
		return subcommand{}, false
	}
	switch args[1] {
	case "snooze":
		return subcommand{snoozeUsage, func(ctx context.Context, args []string) error {
			return snooze(ctx, args, os.Getenv, time.Now(), os.Stdout)
		}}, true
	case "scan":
		return subcommand{scanUsage, func(ctx context.Context, args []string) error {
			return scanCmd(ctx, args, os.Getenv, os.Stderr)
		}}, true
	}
	return subcommand{}, false
}

func run() error {
	if sub, ok := subcommandOf(os.Args); ok {
		if len(os.Args) > 2 && (os.Args[2] == "--help" || os.Args[2] == "-h") {
			fmt.Print(sub.usage)
			return nil
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return sub.run(ctx, os.Args[2:])
	}
	cfg, addr, level, err := configure(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	// First, before any work: on success the binary starts again here.
	slackSet, slackErr := raiseTimerSlack(cfg.TimerSlack)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	cfg.Logger = log
	if slackErr != nil {
		log.Warn("timer slack not raised", slog.String("error", slackErr.Error()))
	} else if slackSet {
		log.Info("timer slack", slog.String("slack", cfg.TimerSlack.String()))
	}
	// GOMEMLIMIT from the container's limit, unless set: the collector
	// then works harder near the limit instead of the kernel killing the
	// process, and the memory gate is sized from it (BALINT_INFLIGHT_MB).
	if limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup)); err == nil && limit < math.MaxInt64 {
		log.Info("memory limit", slog.Int64("gomemlimit_mb", limit>>20))
	}
	if pace, limit, ok := paceCollector(cfg, os.Getenv); ok {
		log.Info("collector", slog.Int("gogc", pace), slog.Int64("gomemlimit_mb", limit>>20))
	}
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: EHR calls are NOT authenticated and loopback FHIR servers are allowed. Never run this way with real patient data.")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	shutdownTracing, err := setupTracing(ctx)
	if err != nil {
		return err
	}
	defer shutdownTracing(context.Background())

	a, err := wire(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	srv := &http.Server{
		Addr:              addr,
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.HookTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	servers := []*http.Server{srv}
	if a.Admin != nil {
		admin := &http.Server{Addr: cfg.AdminAddr, Handler: a.Admin, ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
		servers = append(servers, admin)
		go func() { errc <- admin.ListenAndServe() }()
		log.Info("admin listening", slog.String("addr", cfg.AdminAddr))
	}
	log.Info("balint listening", slog.String("addr", addr), slog.String("base_url", cfg.BaseURL),
		slog.Bool("postgres", a.Store.Postgres()), slog.Bool("demo", cfg.Demo || cfg.Dev))
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for _, s := range servers {
			if err := s.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
		}
	}
	return nil
}

// gcPercent is the collector's pace unless GOGC is set: it collects when
// the heap is five times what was live after the last collection, not
// twice. A large call's history is millions of pointers (samply's types),
// and at the default pace the collector marked it two or three times
// while it was being built: docs/performance.md has the figures.
const gcPercent = 400

// paceCollector sets the collector's pace, and, so that the heap the
// slower pace lets grow is still bounded, a memory limit where none is
// set: what the process is built to hold, its baseline, the calls in
// flight (BALINT_INFLIGHT_MB, else 1 GiB) and the FHIR page cache. Near
// the limit the collector works harder whatever the pace. Nothing is
// changed when GOGC is set.
func paceCollector(cfg Config, getenv func(string) string) (pace int, limit int64, ok bool) {
	if getenv("GOGC") != "" {
		return 0, 0, false
	}
	limit = debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		limit = baseline + inflightBytes(cfg, limit) + int64(cfg.FHIRCacheMB)<<20
		debug.SetMemoryLimit(limit)
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent, limit, true
}
