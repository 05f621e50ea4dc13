package main

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestServeReapsOnSIGCHLDAndExitsZeroOnStop(t *testing.T) {
	for _, stop := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(stop.String(), func(t *testing.T) {
			signals := make(chan os.Signal, 3)
			signals <- syscall.SIGCHLD
			signals <- syscall.SIGCHLD
			signals <- stop
			reaps := 0
			if code := serve(signals, func() { reaps++ }); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if reaps != 2 {
				t.Errorf("reaped %d times, want 2", reaps)
			}
		})
	}
}

func TestReapZombiesCollectsExitedChildren(t *testing.T) {
	var pids []int
	for range 3 {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			t.Skipf("cannot start /bin/true: %v", err)
		}
		pids = append(pids, pid)
	}
	// Wait until each child has exited (is a zombie) without reaping it.
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 10_000)
		for err == unix.EINTR {
			n, err = unix.Poll(fds, 10_000)
		}
		if n != 1 || err != nil {
			t.Fatalf("child %d did not exit: %d %v", pid, n, err)
		}
		unix.Close(fd)
	}
	reapZombies()
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("child %d not reaped", pid)
		}
	}
}
