package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/cni"
	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/node"
	"github.com/berth/berth/internal/agent/podnet"
	"github.com/berth/berth/internal/agent/pods"
	"github.com/berth/berth/internal/agent/streaming"
)

// Agent is a real node: containerd, CNI, the Node object and the pod sync loop.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}

	mu         sync.Mutex
	containerd *containerd.Containerd
	runtime    *cri.Client
	node       *node.Node
	loop       *pods.Loop
	netReady   bool
	nodeIP     string
	network    *clusterNetwork
}

// New checks cfg; Run does the work.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Log.With("component", "agent", "node", cfg.NodeName), ready: make(chan struct{})}, nil
}

// Ready is closed once the node is registered, its pod network configured and the pod
// sync loop running.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// NodeName is the node this agent runs.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Containerd is the supervised containerd (nil before Run started it).
func (a *Agent) Containerd() *containerd.Containerd {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.containerd
}

// Run joins the cluster, starts containerd, registers the node, waits for its pod CIDR,
// configures the pod network and syncs pods until ctx ends; then it stops what it started
// (containerd unless LeaveRunning).
func (a *Agent) Run(ctx context.Context) (err error) {
	started := time.Now()
	restConfig, err := a.credential(ctx)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(protobufConfig(restConfig))
	if err != nil {
		return err
	}
	cd, err := containerd.New(containerd.Options{
		DataDir: a.cfg.DataDir, NetNS: a.cfg.NetNS, LeaveRunning: a.cfg.LeaveRunning,
		CNIConfDir: filepath.Join(a.cfg.dir(), "cni", "net.d"), Preload: a.cfg.Preload,
		StopTimeout: a.cfg.ContainerdStopTimeout, Log: a.cfg.Log,
	})
	if err != nil {
		return err
	}
	res, err := cd.Start(ctx)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err = errors.Join(err, cd.Stop(stopCtx))
	}()
	runtime, err := cri.New(cd.Paths().Socket, cri.Options{})
	if err != nil {
		return err
	}
	defer runtime.Close()
	a.mu.Lock()
	a.containerd, a.runtime = cd, runtime
	a.mu.Unlock()

	host := cni.Host{NetNS: a.cfg.NetNS, StateDir: a.cfg.dir()}
	a.nodeIP = a.cfg.NodeIP
	if a.nodeIP == "" {
		a.nodeIP = detectNodeIP(host)
	}
	// The streaming endpoint listens where the node's address is: in the node's own
	// namespace when it has a routable one (e2e nodes on a shared link), else in the
	// agent's (whose loopback the API server shares).
	var streamLn net.Listener
	var streamPort int32
	listenHost := host
	if ip := net.ParseIP(a.nodeIP); ip == nil || ip.IsLoopback() {
		listenHost = cni.Host{}
	}
	err = listenHost.Do(func() error {
		var err error
		streamLn, streamPort, err = streaming.Listen(a.cfg.StreamingPort)
		return err
	})
	if err != nil {
		return err
	}
	defer streamLn.Close()
	nd, err := node.New(node.Config{
		Name: a.cfg.NodeName, Client: client, Labels: a.cfg.Labels, MaxPods: a.cfg.MaxPods,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.nodeIP},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		NodeFSPath: a.cfg.DataDir, ImageFSPath: cd.Paths().Root, Eviction: a.cfg.Eviction,
		RuntimeVersion: "containerd://" + res.Version,
		Health:         a.health, Images: a.images, KubeletPort: streamPort,
		HeartbeatInterval: a.cfg.HeartbeatInterval, Log: a.cfg.Log,
	})
	if err != nil {
		return err
	}
	if _, err := nd.Register(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	a.node = nd
	a.mu.Unlock()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	host.StateDir = a.cfg.dir()
	defer func() {
		if !a.cfg.LeaveRunning {
			if changed, rerr := host.RestoreForwarding(); rerr != nil {
				err = errors.Join(err, rerr)
			} else if changed {
				a.log.Info("ip_forward restored to 0")
			}
		}
	}()
	// Deferred last, so it runs first: the loops stop before anything they use, and
	// what they set up is undone after they stopped.
	var wg sync.WaitGroup
	var undo []func() error
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
		for i := len(undo) - 1; i >= 0; i-- {
			err = errors.Join(err, undo[i]())
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		nd.Run(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.serveStreaming(runCtx, streamLn, runtime, restConfig); err != nil {
			a.log.Error("streaming endpoint stopped", "err", err)
		}
	}()

	podCIDR, err := nd.WaitForPodCIDR(ctx)
	if err != nil {
		return err
	}
	if err := a.setUpNetwork(host, podCIDR); err != nil {
		return err
	}
	stopNetwork, err := a.startClusterNetwork(runCtx, &wg, client, host, podCIDR)
	if err != nil {
		return err
	}
	undo = append(undo, stopNetwork)
	nd.Refresh()

	cgroups, err := pods.NewCgroups(a.cfg.CgroupRoot)
	if err != nil {
		return err
	}
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})
	nodeRef := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	if err := a.startImageGC(runCtx, &wg, runtime, cd, recorder, nodeRef); err != nil {
		return err
	}
	seams, err := a.seams(runCtx, &wg, client, runtime, host, nd.Allocatable, recorder)
	if err != nil {
		return err
	}
	loop, err := pods.New(pods.Config{
		NodeName: a.cfg.NodeName, Client: client, Runtime: runtime, RuntimeName: "containerd",
		PodsDir: filepath.Join(a.cfg.dir(), "pods"), Cgroups: cgroups,
		DNS:         pods.DNS{Servers: a.cfg.ClusterDNS, Domain: a.cfg.ClusterDomain},
		HostIPs:     func() []string { return []string{a.nodeIP} },
		Allocatable: nd.Allocatable, Services: a.clusterServices,
		Volumes: seams.Volumes, NewProber: seams.NewProber, Hooks: seams.Hooks, Env: a.cfg.Env,
		Recorder:     recorder,
		RelistPeriod: a.cfg.RelistPeriod, Log: a.cfg.Log,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.loop = loop
	a.mu.Unlock()
	loopDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopDone <- loop.Run(runCtx)
	}()
	a.log.Info("node agent ready", "podCIDR", podCIDR, "nodeIP", a.nodeIP, "containerd", res.Version,
		"containerdAdopted", res.Adopted, "after", time.Since(started).Round(time.Millisecond))
	close(a.ready)
	select {
	case <-ctx.Done():
		return nil
	case err := <-loopDone:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("pod sync loop: %w", err)
	}
}

// credential returns a client config with the node's own certificate, joining with the
// token when there is no usable stored one.
func (a *Agent) credential(ctx context.Context) (*rest.Config, error) {
	if a.cfg.APITransport != nil {
		return &rest.Config{
			Host: a.cfg.Server, Transport: a.cfg.APITransport(a.cfg.NodeName),
			UserAgent: "berth-agent/" + a.cfg.NodeName, QPS: 50, Burst: 100,
		}, nil
	}
	dir := a.cfg.dir()
	cred, err := loadCredential(dir, a.cfg.NodeName, a.cfg.CAPEM, time.Now())
	if err != nil {
		if a.cfg.Token == "" {
			return nil, fmt.Errorf("agent: no usable node credential in %s (%v) and no token to join with", dir, err)
		}
		ca := a.cfg.CAPEM
		if len(ca) == 0 {
			_, _, caFile := credentialFiles(dir)
			ca, _ = os.ReadFile(caFile)
		}
		if cred, err = join(ctx, a.cfg.Server, a.cfg.Token, a.cfg.NodeName, ca, a.cfg.Insecure, dir); err != nil {
			return nil, err
		}
		a.log.Info("joined the cluster", "server", a.cfg.Server)
	}
	return &rest.Config{
		Host:            a.cfg.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: cred.CAPEM, CertData: cred.CertPEM, KeyData: cred.KeyPEM},
		UserAgent:       "berth-agent/" + a.cfg.NodeName,
		QPS:             50,
		Burst:           100,
	}, nil
}

// setUpNetwork writes the CNI conflist for the pod CIDR (with the MTU the pod network
// mode calls for) and turns forwarding on.
func (a *Agent) setUpNetwork(host cni.Host, podCIDR string) error {
	mtu, err := podnet.PodMTU(a.cfg.PodNetwork, a.cfg.NetNS, a.nodeIP)
	if err != nil {
		a.log.Warn("pods keep the default MTU: the VXLAN tunnel's is unknown", "err", err)
	}
	res, err := cni.Network{
		PodCIDR: podCIDR, ConfDir: filepath.Join(a.cfg.dir(), "cni", "net.d"), IPAMDir: filepath.Join(a.cfg.dir(), "cni", "ipam"),
		MTU: mtu,
	}.Write()
	if err != nil {
		return err
	}
	changed, err := host.EnableForwarding()
	if err != nil {
		return err
	}
	a.log.Info("pod network configured", "podCIDR", podCIDR, "conflist", res.Path, "written", res.Changed, "ipForwardTurnedOn", changed)
	a.mu.Lock()
	a.netReady = true
	a.mu.Unlock()
	return nil
}

// health is the node's Ready verdict: the runtime answers and says it is ready, the pod
// network is configured, and the pod loop relists.
func (a *Agent) health(ctx context.Context) error {
	a.mu.Lock()
	runtime, netReady, loop := a.runtime, a.netReady, a.loop
	a.mu.Unlock()
	if runtime == nil {
		return errors.New("container runtime not started")
	}
	st, err := runtime.Status(ctx, false)
	if err != nil {
		return err
	}
	for _, c := range st.GetStatus().GetConditions() {
		if !c.Status && c.Type == runtimeapi.RuntimeReady {
			return fmt.Errorf("%s=false reason:%s message:%s", c.Type, c.Reason, c.Message)
		}
	}
	if !netReady {
		return errors.New("network plugin not ready: the node has no pod CIDR yet")
	}
	if loop != nil {
		return loop.Healthy()
	}
	return nil
}

// images lists the runtime's images for the node status.
func (a *Agent) images(ctx context.Context) ([]corev1.ContainerImage, error) {
	a.mu.Lock()
	runtime := a.runtime
	a.mu.Unlock()
	list, err := runtime.ListImages(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]corev1.ContainerImage, 0, len(list))
	for _, img := range list {
		names := append(append([]string(nil), img.RepoDigests...), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
	}
	return out, nil
}

// detectNodeIP picks the first global unicast IPv4 address of an interface that is up in
// the node's network namespace (not the pods' bridge), else 127.0.0.1.
func detectNodeIP(host cni.Host) string {
	ip := "127.0.0.1"
	_ = host.Do(func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, iface := range ifaces {
			if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 || iface.Name == cni.DefaultBridge ||
				strings.HasPrefix(iface.Name, "veth") {
				continue
			}
			addrs, _ := iface.Addrs()
			for _, addr := range addrs {
				if ipNet, ok := addr.(*net.IPNet); ok && ipNet.IP.To4() != nil && ipNet.IP.IsGlobalUnicast() {
					ip = ipNet.IP.String()
					return nil
				}
			}
		}
		return nil
	})
	return ip
}

// protobufConfig is cfg speaking protobuf, as the kubelet does by default: the agent's
// informers decode every pod, service and slice change, and protobuf costs both sides a
// fraction of JSON.
func protobufConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = k8sruntime.ContentTypeProtobuf
	cfg.AcceptContentTypes = k8sruntime.ContentTypeProtobuf + "," + k8sruntime.ContentTypeJSON
	return cfg
}
