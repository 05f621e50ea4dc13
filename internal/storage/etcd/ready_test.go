package etcd_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/storage/etcd"
	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/internal/syncbuf"
)

// closedLoopbackAddr is a loopback address nothing listens on.
func closedLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestConnectGivesUpOnClosedPort(t *testing.T) {
	addr := closedLoopbackAddr(t)
	endpoint := "http://" + addr
	var logs syncbuf.Buffer
	const bound = 1500 * time.Millisecond
	start := time.Now()
	client, err := etcd.Connect(context.Background(), etcd.ExternalConfig{
		Endpoints: []string{endpoint}, Timeout: bound, RetryInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	took := time.Since(start)
	if err == nil {
		_ = client.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if took < bound || took > bound+3*time.Second {
		t.Errorf("gave up after %s, want just past %s", took, bound)
	}
	for _, want := range []string{endpoint + " did not answer within 1.5s", "dial tcp " + addr, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The wait is not silent: each attempt says why it failed.
	if n := strings.Count(logs.String(), `msg="waiting for etcd"`); n < 2 || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("%d waiting lines; logs:\n%s", n, logs.String())
	}
}

// TestConnectReasonAtTheDeadline: when the retry interval divides the timeout, the last
// attempt falls due with the deadline; the error still gives the endpoint's reason, not
// the "i/o timeout" of a dial the deadline cut short (that failed TestUnreachableEtcd's
// closed-port case about one run in eight, with the default 1 s interval and a 2 s bound).
func TestConnectReasonAtTheDeadline(t *testing.T) {
	for i := range 10 {
		addr := closedLoopbackAddr(t)
		_, err := etcd.Connect(context.Background(), etcd.ExternalConfig{
			Endpoints: []string{"http://" + addr}, Timeout: 200 * time.Millisecond, RetryInterval: 100 * time.Millisecond,
		})
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("try %d: error %v does not say connection refused", i, err)
		}
	}
}

func TestConnectStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := etcd.Connect(ctx, etcd.ExternalConfig{Endpoints: []string{"http://" + closedLoopbackAddr(t)}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) || time.Since(start) > 5*time.Second {
		t.Fatalf("Connect with a cancelled context: %v after %s", err, time.Since(start))
	}
}

func TestConnectWaitsForEtcd(t *testing.T) {
	etcdtest.SkipWithoutBinary(t)
	endpoint := etcdtest.StartExternal(t)
	var logs bytes.Buffer
	client, err := etcd.Connect(context.Background(), etcd.ExternalConfig{
		Endpoints: []string{endpoint}, Timeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	_ = client.Close()
	if strings.Contains(logs.String(), "waiting for etcd") {
		t.Errorf("a ready etcd was waited for:\n%s", logs.String())
	}
}
