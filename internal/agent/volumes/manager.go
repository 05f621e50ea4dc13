package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/berth/berth/internal/agent/pods"
)

// Config wires a Manager.
type Config struct {
	// PodsDir is the sync loop's: volumes live in <PodsDir>/<uid>/volumes.
	PodsDir string
	// Client reads (and watches) the configMaps and secrets volumes project and asks
	// for the service-account tokens they show.
	Client kubernetes.Interface
	// Clock times token refreshes (the real clock when nil).
	Clock clock.Clock
	// Allocatable is the node's, for resourceFieldRef limits a container does not set.
	Allocatable func() corev1.ResourceList
	Log         *slog.Logger
}

// Manager is the agent's VolumeManager. Run owns its watches.
type Manager struct {
	cfg       Config
	log       *slog.Logger
	emptyDirs pods.EmptyDirVolumes
	tokens    *tokens

	// ctx bounds the object watches; Run cancels it when its own context ends.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pods    map[types.UID]*podVolumes
	watches map[objectKey]*objectWatch
}

// podVolumes is what the manager knows of one pod; mu serialises its Setup with refreshes.
type podVolumes struct {
	mu   sync.Mutex
	pod  *corev1.Pod
	refs map[objectKey]bool
}

// Plugin directory names, the kubelet's.
const (
	pluginConfigMap = "kubernetes.io~configmap"
	pluginSecret    = "kubernetes.io~secret"
	pluginDownward  = "kubernetes.io~downward-api"
	pluginProjected = "kubernetes.io~projected"
)

// New builds a Manager; its watches stop when Run's context ends.
func New(cfg Config) (*Manager, error) {
	if cfg.PodsDir == "" || cfg.Client == nil {
		return nil, errors.New("volumes: PodsDir and Client are required")
	}
	if cfg.Allocatable == nil {
		cfg.Allocatable = func() corev1.ResourceList { return nil }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Log.With("component", "volumes")
	return &Manager{
		cfg: cfg, log: log, emptyDirs: pods.EmptyDirVolumes{PodsDir: cfg.PodsDir},
		tokens: newTokens(cfg.Client, cfg.Clock, log),
		ctx:    ctx, cancel: cancel, pods: map[types.UID]*podVolumes{}, watches: map[objectKey]*objectWatch{},
	}, nil
}

// Run refreshes service-account tokens as they come due until ctx ends, then stops
// every watch and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.tokens.run(ctx, m.refresh)
	m.cancel()
	m.wg.Wait()
	return nil
}

func (m *Manager) volumesDir(uid types.UID) string {
	return filepath.Join(m.cfg.PodsDir, string(uid), "volumes")
}

func (m *Manager) podState(uid types.UID) *podVolumes {
	m.mu.Lock()
	defer m.mu.Unlock()
	pv, ok := m.pods[uid]
	if !ok {
		pv = &podVolumes{refs: map[objectKey]bool{}}
		m.pods[uid] = pv
	}
	return pv
}

// Setup prepares every volume of pod and returns the host path of each. Errors of
// single volumes are joined (the kubelet's "MountVolume.SetUp failed" text each); the
// volumes that could be prepared are kept.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	pv := m.podState(pod.UID)
	pv.mu.Lock()
	defer pv.mu.Unlock()
	pv.pod = pod

	emptyOnly := &corev1.Pod{ObjectMeta: pod.ObjectMeta}
	for _, vol := range pod.Spec.Volumes {
		if vol.EmptyDir != nil {
			emptyOnly.Spec.Volumes = append(emptyOnly.Spec.Volumes, vol)
		}
	}
	paths, err := m.emptyDirs.Setup(ctx, emptyOnly)
	if err != nil {
		return nil, err
	}
	m.track(pod.UID, pv, referencedObjects(pod))
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.EmptyDir != nil {
			continue
		}
		path, err := m.setUpVolume(ctx, pod, vol)
		if err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err))
			continue
		}
		paths[vol.Name] = path
	}
	return paths, errors.Join(errs...)
}

// setUpVolume prepares one volume that is not an emptyDir.
func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	var plugin string
	switch {
	case vol.HostPath != nil:
		if err := checkHostPath(vol.HostPath); err != nil {
			return "", err
		}
		return filepath.Clean(vol.HostPath.Path), nil
	case vol.ConfigMap != nil:
		plugin = pluginConfigMap
	case vol.Secret != nil:
		plugin = pluginSecret
	case vol.DownwardAPI != nil:
		plugin = pluginDownward
	case vol.Projected != nil:
		plugin = pluginProjected
	default:
		return "", errors.New("volume type not supported by this agent")
	}
	dir := filepath.Join(m.volumesDir(pod.UID), plugin, vol.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if holdsSecrets(vol) && !isMountPoint(dir) {
		// Secrets never touch the node's disk.
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return "", fmt.Errorf("mount tmpfs: %w", err)
		}
	}
	if err := m.write(ctx, pod, vol, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// write computes a projected volume's files and swaps them in when they changed.
func (m *Manager) write(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, dir string) error {
	in := payloadInput{ctx: ctx, pod: pod, objects: m, tokens: m.tokens, allocatable: m.cfg.Allocatable()}
	payload, err := in.payload(vol)
	if err != nil {
		return err
	}
	res, err := WriteAtomic(dir, payload)
	if err != nil {
		return err
	}
	if res.Changed {
		m.log.Debug("volume written", "pod", pod.Namespace+"/"+pod.Name, "volume", vol.Name, "files", len(payload))
	}
	return nil
}

// refresh rewrites the projected volumes of a pod after an object they use changed or
// one of its service-account tokens came due.
func (m *Manager) refresh(uid types.UID) {
	m.mu.Lock()
	pv := m.pods[uid]
	m.mu.Unlock()
	if pv == nil {
		return
	}
	pv.mu.Lock()
	defer pv.mu.Unlock()
	m.mu.Lock()
	current := m.pods[uid] == pv
	m.mu.Unlock()
	pod := pv.pod
	if pod == nil || !current {
		return // torn down meanwhile: fetch no token for it
	}
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		plugin := ""
		switch {
		case vol.ConfigMap != nil:
			plugin = pluginConfigMap
		case vol.Secret != nil:
			plugin = pluginSecret
		case vol.Projected != nil:
			plugin = pluginProjected
		default:
			continue
		}
		dir := filepath.Join(m.volumesDir(uid), plugin, vol.Name)
		if _, err := os.Lstat(filepath.Join(dir, dataDirName)); err != nil {
			continue // never set up (Setup will)
		}
		if err := m.write(m.ctx, pod, vol, dir); err != nil {
			m.log.Debug("refresh volume", "pod", pod.Namespace+"/"+pod.Name, "volume", vol.Name, "err", err)
		}
	}
}

func holdsSecrets(vol *corev1.Volume) bool {
	if vol.Secret != nil {
		return true
	}
	if vol.Projected != nil {
		for _, s := range vol.Projected.Sources {
			if s.Secret != nil || s.ServiceAccountToken != nil {
				return true
			}
		}
	}
	return false
}

// Teardown stops watching the pod's objects, drops its service-account tokens (their
// refreshes stop), unmounts the tmpfs volumes and removes the pod's volumes directory.
func (m *Manager) Teardown(ctx context.Context, uid types.UID) error {
	m.mu.Lock()
	pv := m.pods[uid]
	delete(m.pods, uid)
	m.mu.Unlock()
	if pv != nil {
		pv.mu.Lock()
		m.track(uid, pv, nil)
		pv.mu.Unlock()
	}
	// After pv.mu: a refresh in flight has cached its token by now, and later ones find
	// the pod gone.
	m.tokens.forget(uid)
	root := m.volumesDir(uid)
	plugins, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range plugins {
		if p.Name() == "kubernetes.io~empty-dir" {
			continue // the emptyDir teardown unmounts those
		}
		vols, err := os.ReadDir(filepath.Join(root, p.Name()))
		if err != nil {
			continue
		}
		for _, v := range vols {
			path := filepath.Join(root, p.Name(), v.Name())
			if isMountPoint(path) {
				if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("unmount %s: %w", path, err)
				}
			}
		}
	}
	if err := m.emptyDirs.Teardown(ctx, uid); err != nil {
		return err
	}
	// The emptyDir teardown removes the volumes directory only when the pod had one.
	return os.RemoveAll(root)
}

// isMountPoint compares the device of path with its parent's.
func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(path, &st) != nil || unix.Stat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
