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
	var deployment string
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
		if strings.HasPrefix(f, "deployment") {
			deployment = string(b)
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
}
