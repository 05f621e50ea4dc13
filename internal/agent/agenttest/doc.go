// Package agenttest holds what programs that run a real node need around it, outside of
// `go test`: the e2e framework (test/e2e/framework) and bench/podstartup share it.
//
// It checks that the machine can run a node (Missing), builds CRI configs of a pod as
// the agent would send them (SandboxConfig, ContainerConfig), and undoes what a node
// leaves behind: sandboxes (through a containerd of its own, so CNI DEL frees the IPs),
// processes found by the node's data dir or cgroups (signalled by PID), mounts under the
// data dir and the node's cgroups in every hierarchy.
//
// Every function reports failures as errors and goes on with the rest of its work: a
// cleanup removes as much as it can.
package agenttest
