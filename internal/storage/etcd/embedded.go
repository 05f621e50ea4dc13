package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap/zapcore"
)

// DefaultReadyTimeout bounds how long StartEmbedded waits for the member to serve when
// Config.ReadyTimeout is zero. A fresh single member is ready in tens of milliseconds; a
// restart replays the WAL, which can take longer on a large data dir.
const DefaultReadyTimeout = 60 * time.Second

// Config configures an embedded single-member etcd.
type Config struct {
	// DataDir holds the member's WAL and database; it is created when missing.
	DataDir string
	// Logger receives etcd's warnings and errors (nil: discarded).
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the member to serve (0: DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// UnsafeNoFsync skips fsync: acknowledged writes can be lost on a crash. Tests only.
	UnsafeNoFsync bool
}

// Embedded is a running single-member etcd inside this process.
type Embedded struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string
	stopping  *atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// StartEmbedded starts a single-member etcd with data in cfg.DataDir, listening for clients
// and peers on free loopback ports, and returns once it serves. It uses fast raft ticks
// (50 ms heartbeat, 250 ms election), which suit only a single member.
func StartEmbedded(ctx context.Context, cfg Config) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded etcd: DataDir is required")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}

	etcdCfg := embed.NewConfig()
	etcdCfg.Name = "berth"
	etcdCfg.Dir = cfg.DataDir
	etcdCfg.InitialClusterToken = "berth"
	// A single member campaigns after 1 to electionTicks+1 ticks (the initial tick
	// advance), so short ticks make it ready sooner, while every tick wakes the process:
	// 10 ms ticks cost about 0.6 % of a core idle, 50 ms about 0.1 %, and it is still
	// ready within 300 ms.
	etcdCfg.TickMs = 50
	etcdCfg.ElectionMs = 250
	etcdCfg.UnsafeNoFsync = cfg.UnsafeNoFsync
	etcdCfg.EnableGRPCGateway = false
	etcdCfg.Logger = "zap"
	etcdCfg.LogLevel = "error"
	stopping := new(atomic.Bool)
	etcdCfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(cfg.Logger, zapcore.ErrorLevel, stopping))
	// Port 0: the kernel picks free ports when etcd binds, so two servers never race for
	// one. Peers never dial a single member, so its advertised peer URL is never used.
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	etcdCfg.ListenClientUrls = []url.URL{loopback}
	etcdCfg.AdvertiseClientUrls = []url.URL{loopback}
	etcdCfg.ListenPeerUrls = []url.URL{loopback}
	etcdCfg.AdvertisePeerUrls = []url.URL{loopback}
	etcdCfg.ListenMetricsUrls = nil
	etcdCfg.InitialCluster = etcdCfg.InitialClusterFromName(etcdCfg.Name)

	server, err := embed.StartEtcd(etcdCfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: start: %w", err)
	}
	timer := time.NewTimer(cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-server.Server.ReadyNotify():
	case err := <-server.Err():
		stopping.Store(true)
		server.Close()
		return nil, fmt.Errorf("embedded etcd: failed before ready: %w", err)
	case <-timer.C:
		stopping.Store(true)
		server.Close()
		return nil, fmt.Errorf("embedded etcd: not ready after %s", cfg.ReadyTimeout)
	case <-ctx.Done():
		stopping.Store(true)
		server.Close()
		return nil, fmt.Errorf("embedded etcd: %w", ctx.Err())
	}

	endpoints := make([]string, 0, len(server.Clients))
	for _, listener := range server.Clients {
		endpoints = append(endpoints, "http://"+listener.Addr().String())
	}
	// The server's own client calls the member in process (etcd's v3client: no gRPC,
	// HTTP/2 or loopback sockets between them); the client URL still serves others.
	client := v3client.New(server.Server)
	return &Embedded{etcd: server, client: client, endpoints: endpoints, stopping: stopping}, nil
}

// Client returns the client connected to the member; Embedded owns it (Close closes it).
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Endpoints returns the client URLs the member serves on.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close closes the client and stops the member; later calls return the first result.
// Every acknowledged write is already in the fsynced WAL (unless UnsafeNoFsync), so a later
// StartEmbedded on the same DataDir sees it.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.stopping.Store(true)
		clientErr := e.client.Close()
		e.etcd.Close()
		<-e.etcd.Server.StopNotify()
		if clientErr != nil && !errors.Is(clientErr, context.Canceled) {
			e.closeErr = fmt.Errorf("embedded etcd: close client: %w", clientErr)
		}
	})
	return e.closeErr
}
