package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/balint-health/balint/advice"
	"github.com/balint-health/balint/store"
)

// snoozeUsage is the subcommand's help.
const snoozeUsage = `Usage:
  balint snooze list  [--issuer ISS --tenant T] PATIENT_ID
  balint snooze clear [--issuer ISS --tenant T] PATIENT_ID

Shows, or ends, the snoozes that keep a patient's card from showing (set by a
clinician's override). Clearing keeps the feedback on record. The database is
the service's own (DATABASE_URL, else BALINT_SQLITE_PATH). --issuer and
--tenant name the EHR the patient belongs to; leave them out in development
mode. Example, after dismissing the demo card:
  balint snooze clear demo-pattern
`

// snooze runs `balint snooze`: it lists or clears a patient's snoozes.
func snooze(ctx context.Context, args []string, getenv func(string) string, now time.Time, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "clear") {
		return &usageError{errors.New("snooze: say list or clear")}
	}
	verb := args[0]
	fs := flag.NewFlagSet("snooze", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	issuer := fs.String("issuer", "", "the EHR issuer (iss) the patient belongs to")
	tenant := fs.String("tenant", "", "the EHR tenant, when the issuer has several")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err}
	}
	if fs.NArg() != 1 {
		return &usageError{errors.New("snooze: one patient id")}
	}
	patient := fs.Arg(0)
	cfg, _, _, err := configure(nil, getenv)
	if err != nil {
		return err
	}
	url := cfg.DatabaseURL
	if url == "" {
		url = cfg.SQLitePath
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	caller := advice.Caller(*issuer, *tenant)
	if verb == "clear" {
		n, err := db.ClearSnoozes(ctx, caller, patient, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d snooze(s) cleared for %s; the card may show again\n", n, patient)
		return nil
	}
	snoozes, err := db.Snoozes(ctx, caller, patient, now)
	if err != nil {
		return err
	}
	if len(snoozes) == 0 {
		fmt.Fprintf(out, "no snooze in force for %s\n", patient)
	}
	for _, s := range snoozes {
		fmt.Fprintf(out, "%s  until %s  reason %s  (overridden %s)\n", s.ServiceID, s.Until.Format("2006-01-02 15:04 MST"),
			s.ReasonCode, s.OutcomeAt.Format("2006-01-02 15:04 MST"))
	}
	return nil
}
