package agent

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/berth/berth/internal/agent/cni"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/hooks"
	"github.com/berth/berth/internal/agent/pods"
	"github.com/berth/berth/internal/agent/probes"
	"github.com/berth/berth/internal/agent/volumes"
)

// podSeams are the volume manager, prober and hooks the pod sync loop gets: the ones in
// Options, else berth's full implementations.
type podSeams struct {
	Volumes   pods.VolumeManager
	NewProber func(pods.Resync) pods.Prober
	Hooks     pods.Hooks
}

// seams builds the pod loop's seams. Their goroutines (object watches, probe workers)
// run under ctx and are waited for through wg.
func (a *Agent) seams(ctx context.Context, wg *sync.WaitGroup, client kubernetes.Interface, runtime *cri.Client,
	host cni.Host, allocatable func() corev1.ResourceList, recorder record.EventRecorder) (podSeams, error) {
	// Pod IPs are routed in the node's network namespace: probes and hooks dial there.
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		err := host.Do(func() error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, address)
			return err
		})
		return conn, err
	}
	actions := probes.Actions{Exec: runtime, Dial: dial}
	s := podSeams{Volumes: a.cfg.Volumes, NewProber: a.cfg.NewProber, Hooks: a.cfg.Hooks}
	var manager *volumes.Manager
	if s.Volumes == nil {
		m, err := volumes.New(volumes.Config{
			PodsDir: filepath.Join(a.cfg.dir(), "pods"), Client: client, Allocatable: allocatable, Log: a.cfg.Log,
		})
		if err != nil {
			return s, err
		}
		manager, s.Volumes = m, m
	}
	var prober atomic.Pointer[probes.Prober]
	if s.NewProber == nil {
		s.NewProber = func(resync pods.Resync) pods.Prober {
			p := probes.New(ctx, probes.Config{Actions: actions, Recorder: recorder, Resync: resync, Log: a.cfg.Log})
			prober.Store(p)
			return p
		}
	}
	if s.Hooks == nil {
		s.Hooks = hooks.Hooks{Actions: actions, Sandboxes: runtime}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if manager != nil {
			_ = manager.Run(ctx)
		}
		<-ctx.Done()
		if p := prober.Load(); p != nil {
			p.Wait()
		}
	}()
	return s, nil
}
