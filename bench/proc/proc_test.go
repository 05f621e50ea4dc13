package proc

import (
	"os"
	"testing"
)

func TestSelf(t *testing.T) {
	// Burn a little CPU so the reading cannot be zero by accident of timing.
	sum := 0
	for i := range 50_000_000 {
		sum += i
	}
	_ = sum
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Errorf("CPUTime = %v, %v", cpu, err)
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS || m.Anon <= 0 || m.Anon+m.File > m.RSS {
		t.Errorf("ReadMemory = %+v, %v", m, err)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Error("CPUTime of no process: no error")
	}
}
