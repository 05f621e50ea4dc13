// Package e2e holds berth's end-to-end tests: real containerd, runc and CNI in network
// namespaces, as root (see framework). Measured figures are logged as "FIGURE name value".
package e2e
