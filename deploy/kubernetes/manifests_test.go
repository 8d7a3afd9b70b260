// Package kubernetes holds the deployment manifests; this test keeps them
// parseable and keeps the security settings an operator relies on.
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestManifests(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	kinds := map[string]bool{}
	var deployment, scanJob, mergeJob string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if k, _ := doc["kind"].(string); k != "" {
				kinds[k] = true
			}
		}
		switch f {
		case "deployment.yaml":
			deployment = string(b)
		case "scan-job.yaml":
			scanJob = string(b)
		case "scan-merge-job.yaml":
			mergeJob = string(b)
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} {
		if !kinds[k] {
			t.Errorf("no %s manifest", k)
		}
	}
	for _, want := range []string{"runAsNonRoot: true", "readOnlyRootFilesystem: true", "path: /readyz, port: admin", "path: /healthz", "secretKeyRef", "drop: [ALL]",
		"BALINT_ADMIN_ADDR"} {
		if !strings.Contains(deployment, want) {
			t.Errorf("deployment lacks %q", want)
		}
	}
	if strings.Contains(deployment, "BALINT_DEV") || strings.Contains(deployment, "--dev") {
		t.Error("the deployment runs in development mode")
	}
	// The scan: an Indexed Job of 4 shards, each writing its own folder,
	// and a merge of exactly those 4.
	for _, want := range []string{"completionMode: Indexed", "completions: 4", "parallelism: 4", `"--shard=$(JOB_COMPLETION_INDEX)/4"`,
		`"--out=/data/out/shard-$(JOB_COMPLETION_INDEX)"`, "readOnlyRootFilesystem: true"} {
		if !strings.Contains(scanJob, want) {
			t.Errorf("scan job lacks %q", want)
		}
	}
	if !strings.Contains(mergeJob, "args: [scan, merge, \"--out=/data/out/all\", /data/out/shard-0, /data/out/shard-1, /data/out/shard-2, /data/out/shard-3]") {
		t.Error("the merge job does not join the scan job's 4 shards")
	}
}
