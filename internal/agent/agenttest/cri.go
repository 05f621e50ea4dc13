package agenttest

import (
	"os"
	"path/filepath"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SandboxConfig is a pod sandbox config as the agent would send it for a pod named name
// with that UID in namespace e2e: pod network, own PID namespace per container,
// RuntimeDefault seccomp, a log dir under dataDir/pods and a cgroup below cgroupParent.
// Without the pod UID label (delete it) the agent leaves the sandbox alone.
func SandboxConfig(dataDir, cgroupParent, name, uid string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: uid},
		Hostname:     name,
		LogDirectory: filepath.Join(dataDir, "pods", uid),
		Labels:       map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": "e2e", "io.kubernetes.pod.uid": uid},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent + "/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: podNamespaces(),
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
	}
}

// ContainerConfig is a container config for the sandbox; its log goes to
// <LogDirectory>/<name>/0.log, whose directory it creates.
func ContainerConfig(sandbox *runtimeapi.PodSandboxConfig, name, image string, command ...string) (*runtimeapi.ContainerConfig, error) {
	if err := os.MkdirAll(filepath.Join(sandbox.LogDirectory, name), 0o755); err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Command:  command,
		LogPath:  filepath.Join(name, "0.log"),
		Labels:   map[string]string{"io.kubernetes.container.name": name},
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: podNamespaces(),
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
	}, nil
}

func podNamespaces() *runtimeapi.NamespaceOption {
	return &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
}
