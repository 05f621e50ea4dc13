// Command pause is the sandbox ("infra") process of every berth pod: it holds the pod's
// namespaces open, reaps zombies when it is the pod's PID 1, and exits 0 on SIGTERM/SIGINT.
// It is built static (CGO_ENABLED=0, -trimpath, -s -w) and shipped inside berth as an image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	os.Exit(serve(signals, reapZombies))
}

// serve reaps on every SIGCHLD and returns 0 on any other signal.
func serve(signals <-chan os.Signal, reap func()) int {
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return 0
		}
		reap()
	}
	return 0
}

// reapZombies collects every exited child; one SIGCHLD may stand for several exits.
func reapZombies() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
