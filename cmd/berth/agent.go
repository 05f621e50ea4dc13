package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/agent/simulated"
)

// runAgent runs `berth agent`. Only simulated nodes exist so far: SIGUSR1 silences the
// next running node (its heartbeats stop, as if its machine died), SIGUSR2 brings all
// silenced nodes back, SIGINT/SIGTERM stop everything.
func runAgent(args []string, stderr io.Writer) int {
	if !isSimulated(args) {
		return runNodeAgent(args, stderr) // the real node (agent_node.go)
	}
	fs := flag.NewFlagSet("berth agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg                        simulated.Config
		serverURL, tokenFile, ca   string
		cpu, memory, labels, level string
		insecure                   bool
		heartbeat, deletionDelay   time.Duration
		nodes, maxPods, zones      int
	)
	fs.IntVar(&nodes, "simulated-nodes", 0, "run this many simulated nodes (no containers; pods go Running at once)")
	fs.StringVar(&serverURL, "server", "", "URL of the berth API server, e.g. https://127.0.0.1:6443")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the node token (<server data-dir>/node-token)")
	fs.StringVar(&ca, "ca-file", "", "CA certificate to verify the server (default: tls/ca.crt beside the token file, when it exists; otherwise the server is not verified)")
	fs.StringVar(&cfg.NamePrefix, "node-name-prefix", "sim-", "simulated node names are this prefix plus an index")
	fs.StringVar(&cpu, "cpu", "4", "CPU capacity of each node")
	fs.StringVar(&memory, "memory", "16Gi", "memory capacity of each node")
	fs.IntVar(&maxPods, "pods", 110, "pod capacity of each node")
	fs.IntVar(&zones, "zones", 3, "spread nodes over this many topology.kubernetes.io/zone values (0: none)")
	fs.StringVar(&labels, "labels", "", "extra node labels, k=v,k2=v2")
	fs.DurationVar(&heartbeat, "heartbeat-interval", 10*time.Second, "Lease renew interval")
	fs.DurationVar(&deletionDelay, "deletion-delay", 0, "simulated container stop time (capped by each pod's grace period)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "berth agent: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case nodes <= 0:
		return fail("only simulated nodes are supported here: give --simulated-nodes N (N > 0)")
	case serverURL == "":
		return fail("--server is required")
	case tokenFile == "":
		return fail("--token-file is required")
	}
	var logLevel slog.Level
	if err := logLevel.UnmarshalText([]byte(level)); err != nil {
		return fail("--log-level: %v", err)
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return fail("read token: %v", err)
	}
	rc := &rest.Config{Host: serverURL, BearerToken: strings.TrimSpace(string(token))}
	insecure = false
	if ca == "" {
		// The token file sits in the server's data dir, next to its CA.
		if guess := filepath.Join(filepath.Dir(tokenFile), "tls", "ca.crt"); fileExists(guess) {
			ca = guess
		} else {
			insecure = true
		}
	}
	rc.TLSClientConfig.CAFile, rc.TLSClientConfig.Insecure = ca, insecure
	if cfg.CPU, err = resource.ParseQuantity(cpu); err != nil {
		return fail("--cpu: %v", err)
	}
	if cfg.Memory, err = resource.ParseQuantity(memory); err != nil {
		return fail("--memory: %v", err)
	}
	if cfg.Labels, err = parseLabels(labels); err != nil {
		return fail("--labels: %v", err)
	}
	cfg.RestConfig, cfg.Nodes, cfg.MaxPods, cfg.Zones = rc, nodes, maxPods, zones
	cfg.HeartbeatInterval, cfg.DeletionDelay = heartbeat, deletionDelay
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	cfg.Log = log
	if insecure {
		log.Warn("no CA certificate found: the server's certificate is not verified (give --ca-file)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	agent, err := simulated.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "berth agent: %v\n", err)
		return 1
	}
	log.Info("simulated nodes running", "nodes", nodes, "registeredIn", time.Since(started).Round(time.Millisecond),
		"hint", "SIGUSR1 silences the next node, SIGUSR2 resumes all")
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)
	for {
		select {
		case <-agent.Done():
			return 0
		case s := <-signals:
			if s == syscall.SIGUSR1 {
				log.Info("node silenced (heartbeats stopped)", "node", agent.StopNextNode())
			} else {
				log.Info("nodes resumed", "nodes", agent.ResumeAll())
			}
		}
	}
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
