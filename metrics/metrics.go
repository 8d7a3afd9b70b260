package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors the service updates.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec
	Latency       *prometheus.HistogramVec
	FHIRLatency   *prometheus.HistogramVec
	FHIRPages     *prometheus.CounterVec
	Decoded       *prometheus.CounterVec
	Skipped       *prometheus.CounterVec
	Repaired      *prometheus.CounterVec
	Decisions     *prometheus.CounterVec
	Reasons       *prometheus.CounterVec
	Snoozes       *prometheus.CounterVec
	Feedback      *prometheus.CounterVec
	JWTRejections *prometheus.CounterVec
	Unavailable   *prometheus.CounterVec
	FHIRCache     *prometheus.CounterVec
}

// New creates and registers the metrics.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_http_requests_total",
			Help: "HTTP requests by route, service and status."}, []string{"route", "service", "status"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "balint_http_request_duration_seconds",
			Help: "HTTP request latency by route, service and status.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 8}},
			[]string{"route", "service", "status"}),
		FHIRLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "balint_fhir_request_duration_seconds",
			Help: "Latency of FHIR search pages by resource type and outcome.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4}},
			[]string{"resource_type", "outcome"}),
		FHIRPages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_fhir_pages_total",
			Help: "FHIR search pages fetched, by resource type."}, []string{"resource_type"}),
		Decoded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_history_resources_total",
			Help: "Resources decoded into histories, by resource type and origin (prefetch, server, demo; included: arrived with another kind's search)."}, []string{"resource_type", "origin"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_history_skipped_total",
			Help: "Entries skipped while decoding histories, by resource type (other: a type Balint does not read)."}, []string{"resource_type"}),
		Repaired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_history_repaired_total",
			Help: "Malformed elements the rule does not read, mended or dropped so their resources were kept, by resource type and top-level element."},
			[]string{"resource_type", "element"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_decisions_total",
			Help: "Rule decisions by service and outcome (fired or not)."}, []string{"service", "fired"}),
		Reasons: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_decision_reasons_total",
			Help: "Exclusions hit and criteria unmet, by reason code; with the age band and sex for auditing whom the rule fires for."},
			[]string{"service", "kind", "reason", "age_band", "sex"}),
		Snoozes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_snoozes_total",
			Help: "Snoozes created by feedback, by override reason."}, []string{"reason"}),
		Feedback: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_feedback_total",
			Help: "Feedback received by service and outcome."}, []string{"service", "outcome"}),
		JWTRejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_jwt_rejections_total",
			Help: "Rejected EHR JWTs by reason."}, []string{"reason"}),
		Unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_history_unavailable_total",
			Help: "Hooks answered 412 because data could not be obtained, by part."}, []string{"key"}),
	}
	m.FHIRCache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "balint_fhir_cache_lookups_total",
		Help: "Lookups of FHIR searches in the session cache, by result (hit or miss)."}, []string{"result"})
	r.MustRegister(m.Requests, m.Latency, m.FHIRLatency, m.FHIRPages, m.Decoded, m.Skipped, m.Repaired, m.Decisions,
		m.Reasons, m.Snoozes, m.Feedback, m.JWTRejections, m.Unavailable, m.FHIRCache)
	return m
}

// ObserveCache records one lookup in the FHIR page cache.
func (m *Metrics) ObserveCache(hit bool) {
	if hit {
		m.FHIRCache.WithLabelValues("hit").Inc()
		return
	}
	m.FHIRCache.WithLabelValues("miss").Inc()
}

// ObserveFHIR records one FHIR page fetch.
func (m *Metrics) ObserveFHIR(resourceType string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.FHIRLatency.WithLabelValues(resourceType, outcome).Observe(d.Seconds())
	if err == nil {
		m.FHIRPages.WithLabelValues(resourceType).Inc()
	}
}

// AgeBand groups an age for audit labels.
func AgeBand(age int) string {
	switch {
	case age <= 0:
		return "unknown"
	case age < 18:
		return "0-17"
	case age < 30:
		return "18-29"
	case age < 45:
		return "30-44"
	case age < 65:
		return "45-64"
	default:
		return "65+"
	}
}
