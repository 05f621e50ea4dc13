package agent

import (
	"context"
	"errors"
	"maps"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/berth/berth/internal/agent/cni"
	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/imagegc"
	"github.com/berth/berth/internal/agent/node"
	"github.com/berth/berth/internal/agent/podnet"
	"github.com/berth/berth/internal/dns"
	"github.com/berth/berth/internal/proxy"
)

// clusterNetwork is the node's part of the cluster network beyond the pod bridge:
// routes to other nodes' pods and masquerade (podnet), the service proxy, and the
// cluster DNS answering on the DNS service IP inside the node.
type clusterNetwork struct {
	podnet *podnet.Network
	proxy  *proxy.Proxy
	dns    *dns.Server
	// services lists every Service once the informer has read them.
	services func() ([]*corev1.Service, error)
}

// startClusterNetwork sets up podnet, binds the DNS server and starts every loop under
// ctx (waited for through wg). The returned stop undoes what was set up, unless the
// agent leaves its pods running for the next one.
func (a *Agent) startClusterNetwork(ctx context.Context, wg *sync.WaitGroup, client kubernetes.Interface,
	host cni.Host, podCIDR string) (stop func() error, err error) {
	// Every node keeps every Service, EndpointSlice and Node: keep only what the proxy,
	// DNS and routes read.
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(slimForNetwork))
	nodes := factory.Core().V1().Nodes().Informer()
	svcInformer := factory.Core().V1().Services()
	n := &clusterNetwork{services: listServices(svcInformer.Informer().HasSynced, svcInformer.Lister())}
	if n.podnet, err = podnet.New(podnet.Config{
		NodeName: a.cfg.NodeName, NetNS: a.cfg.NetNS, ClusterCIDR: a.cfg.ClusterCIDR, PodCIDR: podCIDR,
		LocalIPs: a.cfg.ClusterDNS, Mode: a.cfg.PodNetwork, NodeIP: a.nodeIP, Nodes: nodes, Log: a.cfg.Log,
	}); err != nil {
		return nil, err
	}
	nft, err := proxy.NewNFTables(a.cfg.NetNS)
	if err != nil {
		return nil, err
	}
	if n.proxy, err = proxy.New(proxy.Config{
		NodeName: a.cfg.NodeName, NodeIPs: []string{a.nodeIP}, ClusterCIDR: a.cfg.ClusterCIDR,
		Informers: factory, NFT: nft, LocalServiceIPs: a.cfg.ClusterDNS, KeepRules: a.cfg.LeaveRunning,
		Log: a.cfg.Log,
	}); err != nil {
		return nil, err
	}
	src, err := dns.NewInformerSource(factory)
	if err != nil {
		return nil, err
	}
	if err := n.podnet.Setup(ctx); err != nil {
		return nil, err
	}
	stop = func() error {
		if a.cfg.LeaveRunning {
			return nil
		}
		return n.podnet.Close()
	}
	// The DNS sockets are made inside the node's namespace, on the address podnet put
	// there; serving them needs no further namespace switches.
	err = host.Do(func() error {
		var err error
		n.dns, err = dns.NewServer(src, dns.Config{
			Listen: net.JoinHostPort(a.cfg.ClusterDNS[0], "53"), Domain: a.cfg.ClusterDomain, Log: a.cfg.Log,
		})
		return err
	})
	if err != nil {
		// Something else holds port 53 there: services still work, names do not.
		a.log.Error("cluster DNS not served", "err", err)
		n.dns = nil
	}
	factory.Start(ctx.Done())
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error(name+" stopped", "err", err)
			}
		}()
	}
	run("pod network", n.podnet.Run)
	run("service proxy", n.proxy.Run)
	if n.dns != nil {
		run("cluster DNS", n.dns.Serve)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		factory.Shutdown()
	}()
	a.mu.Lock()
	a.network = n
	a.mu.Unlock()
	return stop, nil
}

// startImageGC removes unused images when containerd's filesystem fills up, under ctx
// (waited for through wg).
func (a *Agent) startImageGC(ctx context.Context, wg *sync.WaitGroup, runtime *cri.Client, cd *containerd.Containerd,
	recorder record.EventRecorder, nodeRef *corev1.ObjectReference) error {
	root := cd.Paths().Root
	gc, err := imagegc.New(imagegc.Config{
		Runtime: runtime,
		Usage: func() (uint64, uint64, error) {
			fs, err := node.Machine{}.Filesystem(root)
			return fs.Capacity - fs.Available, fs.Capacity, err
		},
		HighThresholdPercent: a.cfg.ImageGC.HighThresholdPercent, LowThresholdPercent: a.cfg.ImageGC.LowThresholdPercent,
		MinAge: a.cfg.ImageGC.MinAge, Period: a.cfg.ImageGC.Period, Pinned: []string{cd.SandboxImage()},
		OnFailure: func(err error) {
			recorder.Event(nodeRef, corev1.EventTypeWarning, "ImageGCFailed", err.Error())
		},
		Log: a.cfg.Log,
	})
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = gc.Run(ctx)
	}()
	return nil
}

// slimForNetwork drops what no network component of the node reads from cached objects:
// managed fields and last-applied annotations everywhere, and of a Node all but its pod
// CIDRs and addresses (its image list alone can be kilobytes).
func slimForNetwork(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
			a = maps.Clone(a)
			delete(a, corev1.LastAppliedConfigAnnotation)
			m.SetAnnotations(a)
		}
	}
	if n, ok := obj.(*corev1.Node); ok {
		return &corev1.Node{
			TypeMeta:   n.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: n.Labels},
			Spec:       corev1.NodeSpec{PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs},
			Status:     corev1.NodeStatus{Addresses: n.Status.Addresses},
		}, nil
	}
	return obj, nil
}

// listServices returns a lister of every Service that fails until the informer has read
// them: a container started before would miss its service environment.
func listServices(synced func() bool, lister corelisters.ServiceLister) func() ([]*corev1.Service, error) {
	return func() ([]*corev1.Service, error) {
		if !synced() {
			return nil, errors.New("services have not been read yet")
		}
		return lister.List(labels.Everything())
	}
}

// clusterServices lists every Service, for the pods' service environment.
func (a *Agent) clusterServices() ([]*corev1.Service, error) {
	a.mu.Lock()
	n := a.network
	a.mu.Unlock()
	if n == nil {
		return nil, errors.New("the cluster network is not started")
	}
	return n.services()
}

// ProxyReady is closed once the service proxy has written its rules (nil before the
// agent started it).
func (a *Agent) ProxyReady() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.network == nil {
		return nil
	}
	return a.network.proxy.Ready()
}
