package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Version asks the runtime for its name and versions; it is also the readiness probe.
func (c *Client) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
	return resp, wrap(err, "Version", "")
}

// Status reports the runtime's conditions (RuntimeReady, NetworkReady).
func (c *Client) Status(ctx context.Context, verbose bool) (*runtimeapi.StatusResponse, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: verbose})
	return resp, wrap(err, "Status", "")
}

// RunPodSandbox creates and starts a pod sandbox (namespaces, network) and returns its ID.
func (c *Client) RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: config, RuntimeHandler: runtimeHandler})
	if err != nil {
		return "", wrap(err, "RunPodSandbox", sandboxName(config))
	}
	return resp.PodSandboxId, nil
}

// StopPodSandbox stops every container of the sandbox and tears its network down.
// Stopping a stopped sandbox succeeds.
func (c *Client) StopPodSandbox(ctx context.Context, podSandboxID string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podSandboxID})
	return wrap(err, "StopPodSandbox", podSandboxID)
}

// RemovePodSandbox removes the sandbox and its containers. Removing a missing sandbox succeeds.
func (c *Client) RemovePodSandbox(ctx context.Context, podSandboxID string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podSandboxID})
	return wrap(err, "RemovePodSandbox", podSandboxID)
}

// PodSandboxStatus returns the sandbox's state, IPs and (verbose) runtime info.
func (c *Client) PodSandboxStatus(ctx context.Context, podSandboxID string, verbose bool) (*runtimeapi.PodSandboxStatusResponse, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podSandboxID, Verbose: verbose})
	return resp, wrap(err, "PodSandboxStatus", podSandboxID)
}

// ListPodSandbox lists sandboxes matching filter (nil: all).
func (c *Client) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, wrap(err, "ListPodSandbox", "")
	}
	return resp.Items, nil
}

// CreateContainer creates a container in a sandbox and returns its ID. sandboxConfig is
// the config the sandbox was run with.
func (c *Client) CreateContainer(ctx context.Context, podSandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: podSandboxID, Config: config, SandboxConfig: sandboxConfig,
	})
	if err != nil {
		name := podSandboxID
		if md := config.GetMetadata(); md != nil {
			name += "/" + md.Name
		}
		return "", wrap(err, "CreateContainer", name)
	}
	return resp.ContainerId, nil
}

// StartContainer starts a created container.
func (c *Client) StartContainer(ctx context.Context, containerID string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: containerID})
	return wrap(err, "StartContainer", containerID)
}

// StopContainer stops a running container: its stop signal, then SIGKILL after grace.
// Stopping a stopped container succeeds.
func (c *Client) StopContainer(ctx context.Context, containerID string, grace time.Duration) error {
	seconds := int64(grace / time.Second)
	// The runtime may take the whole grace period and then kill; give the call that long.
	ctx, cancel := c.call(ctx, c.opts.Timeout+grace)
	defer cancel()
	_, err := c.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: containerID, Timeout: seconds})
	return wrap(err, "StopContainer", containerID)
}

// RemoveContainer removes a container (a running one is killed first).
func (c *Client) RemoveContainer(ctx context.Context, containerID string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: containerID})
	return wrap(err, "RemoveContainer", containerID)
}

// ListContainers lists containers matching filter (nil: all).
func (c *Client) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, wrap(err, "ListContainers", "")
	}
	return resp.Containers, nil
}

// ContainerStatus returns a container's state, exit code, reason and times.
func (c *Client) ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: containerID, Verbose: verbose})
	return resp, wrap(err, "ContainerStatus", containerID)
}

// UpdateContainerResources changes a running container's cgroup limits.
func (c *Client) UpdateContainerResources(ctx context.Context, containerID string, linux *runtimeapi.LinuxContainerResources) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: containerID, Linux: linux})
	return wrap(err, "UpdateContainerResources", containerID)
}

// ExecResult is what a synchronous exec printed and how it ended.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int32
}

// ExecSync runs cmd in a container and waits up to timeout (0: no runtime-side limit) for
// it — exec probes and hooks use it. A non-zero exit is a result, not an error.
func (c *Client) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (ExecResult, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout+timeout)
	defer cancel()
	resp, err := c.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{
		ContainerId: containerID, Cmd: cmd, Timeout: int64((timeout + time.Second - 1) / time.Second),
	})
	if err != nil {
		return ExecResult{}, wrap(err, "ExecSync", containerID)
	}
	return ExecResult{Stdout: resp.Stdout, Stderr: resp.Stderr, ExitCode: resp.ExitCode}, nil
}

// Exec prepares a streaming exec and returns the URL the runtime's streaming server serves it at.
func (c *Client) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.Exec(ctx, req)
	if err != nil {
		return "", wrap(err, "Exec", req.GetContainerId())
	}
	return resp.Url, nil
}

// Attach prepares a streaming attach and returns its URL.
func (c *Client) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.Attach(ctx, req)
	if err != nil {
		return "", wrap(err, "Attach", req.GetContainerId())
	}
	return resp.Url, nil
}

// PortForward prepares a port forward into a sandbox and returns its URL.
func (c *Client) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.PortForward(ctx, req)
	if err != nil {
		return "", wrap(err, "PortForward", req.GetPodSandboxId())
	}
	return resp.Url, nil
}

// ReopenContainerLog makes the runtime reopen a container's log file (after rotation).
func (c *Client) ReopenContainerLog(ctx context.Context, containerID string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: containerID})
	return wrap(err, "ReopenContainerLog", containerID)
}

// ListContainerStats returns CPU, memory and filesystem usage of containers matching filter.
func (c *Client) ListContainerStats(ctx context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.runtime.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: filter})
	if err != nil {
		return nil, wrap(err, "ListContainerStats", "")
	}
	return resp.Stats, nil
}

func sandboxName(config *runtimeapi.PodSandboxConfig) string {
	md := config.GetMetadata()
	if md == nil {
		return ""
	}
	return md.Namespace + "/" + md.Name
}
