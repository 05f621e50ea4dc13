package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/bench/proc"
	"github.com/berth/berth/bench/report"
)

// result is what one run measured.
type result struct {
	runs, burst int
	// One at a time: create→Running+Ready and its create→bound part, the raw CRI time,
	// and delete→gone.
	seqAgent, seqBound, seqRaw, seqDelete []time.Duration
	// At once.
	burstAgent, burstBound, burstRaw []time.Duration
	// seqAgentCPU is the agent's CPU time per pod over the 1-at-a-time agent pods
	// (start and stop), background work included.
	seqAgentCPU    time.Duration
	mem, memNoPods proc.Memory
	// pss, pssNoPods are the agent's PSS (KiB) at the same moments as mem, memNoPods.
	pss, pssNoPods        int64
	idleCPUPercent        float64
	idle                  time.Duration
	loadBefore, loadAfter string
}

func measure(ctx context.Context, l *lab, o options) (*result, error) {
	res := &result{runs: o.runs, burst: o.burst, idle: o.idle}
	pid := l.agentPID()
	// Each line carries CLOCK_MONOTONIC, the clock `perf record -k mono` stamps samples
	// with, so a system-wide profile can be cut to one phase (perf report --time).
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[mono %.3f] "+format+"\n", append([]any{monotonicSeconds()}, a...)...)
	}
	progress("agent: pid %d, node %s, data dir %s", pid, l.name, l.dataDir)

	// Warm-up: the first pod through each arm creates the bridge and the cgroup tree.
	warm, err := l.track(ctx, "warm")
	if err != nil {
		return nil, err
	}
	if _, err := l.startPods(ctx, warm, []string{"warm"}, "warm"); err != nil {
		return nil, err
	}
	if _, err := l.deletePods(ctx, warm, []string{"warm"}); err != nil {
		return nil, err
	}
	rawWarm, _, err := l.runRawPod(ctx, "raw-warm")
	if rerr := l.removeRawPod(ctx, rawWarm); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("raw warm-up pod: %w", err)
	}

	// One at a time, the arms interleaved.
	progress("%d pods one at a time through the agent and through raw CRI ...", o.runs)
	seq, err := l.track(ctx, "seq")
	if err != nil {
		return nil, err
	}
	var agentCPU time.Duration
	for i := range o.runs {
		name := fmt.Sprintf("seq-%d", i)
		before, err := proc.CPUTime(pid)
		if err != nil {
			return nil, err
		}
		started, err := l.startPods(ctx, seq, []string{name}, "seq")
		if err != nil {
			return nil, err
		}
		deleted, err := l.deletePods(ctx, seq, []string{name})
		if err != nil {
			return nil, err
		}
		after, err := proc.CPUTime(pid)
		if err != nil {
			return nil, err
		}
		agentCPU += after - before
		res.seqAgent = append(res.seqAgent, started[0].ready)
		res.seqBound = append(res.seqBound, started[0].bound)
		res.seqDelete = append(res.seqDelete, deleted[0])

		pod, took, err := l.runRawPod(ctx, fmt.Sprintf("raw-seq-%d", i))
		if rerr := l.removeRawPod(ctx, pod); err == nil {
			err = rerr
		}
		if err != nil {
			return nil, fmt.Errorf("raw pod: %w", err)
		}
		res.seqRaw = append(res.seqRaw, took)
	}
	res.seqAgentCPU = agentCPU / time.Duration(max(o.runs, 1))
	// The node has no pods again; by now the agent's start-up is long over (it releases
	// its start-up pages startupSettle after it is ready), which right after the warm-up
	// it was not.
	if res.memNoPods, err = proc.ReadMemory(pid); err != nil {
		return nil, err
	}
	if res.pssNoPods, err = pssKB(pid); err != nil {
		return nil, err
	}

	// At once: raw first, on the empty node, then through the agent.
	progress("%d raw CRI pods at once ...", o.burst)
	names := make([]string, o.burst)
	for i := range names {
		names[i] = fmt.Sprintf("raw-burst-%d", i)
	}
	rawPods, took, err := l.runRawPods(ctx, names)
	progress("%d raw CRI pods at once: started; removing them ...", o.burst)
	if rerr := l.removeRawPods(ctx, rawPods); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("raw pods at once: %w", err)
	}
	res.burstRaw = took
	progress("%d raw CRI pods at once: removed", o.burst)

	progress("%d pods at once through the agent ...", o.burst)
	burst, err := l.track(ctx, "burst")
	if err != nil {
		return nil, err
	}
	for i := range names {
		names[i] = fmt.Sprintf("burst-%d", i)
	}
	started, err := l.startPods(ctx, burst, names, "burst")
	if err != nil {
		return nil, err
	}
	progress("%d pods at once through the agent: all Running and Ready", o.burst)
	for _, s := range started {
		res.burstAgent = append(res.burstAgent, s.ready)
		res.burstBound = append(res.burstBound, s.bound)
	}

	// Idle with the pods running: let the start's events and status writes drain
	// (5 s), then one window.
	progress("agent idle with %d pods for %v ...", o.burst, o.idle)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Second):
	}
	before, err := proc.CPUTime(pid)
	if err != nil {
		return nil, err
	}
	windowStart := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.idle):
	}
	after, err := proc.CPUTime(pid)
	if err != nil {
		return nil, err
	}
	res.idleCPUPercent = 100 * (after - before).Seconds() / time.Since(windowStart).Seconds()
	if res.mem, err = proc.ReadMemory(pid); err != nil {
		return nil, err
	}
	if res.pss, err = pssKB(pid); err != nil {
		return nil, err
	}
	if o.profile != "" {
		if err := saveProfiles(ctx, l.pprofAddr, pid, o.profile); err != nil {
			return nil, fmt.Errorf("agent profiles: %w", err)
		}
		progress("agent profiles saved in %s", o.profile)
	}
	if _, err := l.deletePods(ctx, burst, names); err != nil {
		return nil, err
	}
	return res, nil
}

// memString shows a resident set with its anonymous (heap, stacks) and file-backed
// (the binary's pages) parts, and the PSS.
func memString(m proc.Memory, pss int64) string {
	return fmt.Sprintf("%.1f MB (anon %.1f, file %.1f; PSS %.1f)", float64(m.RSS)/1024, float64(m.Anon)/1024, float64(m.File)/1024, float64(pss)/1024)
}

type row struct {
	name string
	d    []time.Duration
}

func ms(d time.Duration) string { return strconv.FormatFloat(report.Millis(d), 'f', 0, 64) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (r *result) print(w io.Writer) {
	p := report.Percentile
	fmt.Fprintf(w, "\npod startup, 2-container pod (%s + %s sidecar), warm node; load average %s before, %s after\n\n",
		appImage, busybox, r.loadBefore, r.loadAfter)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tn\tp50 ms\tp99 ms\tmax ms\t")
	section := func(title string, agent, bound, raw []time.Duration) {
		for _, x := range []row{
			{title + " agent: create → Running+Ready", agent},
			{"  of which create → bound (scheduler)", bound},
			{title + " raw CRI: RunPodSandbox+2×(Create+Start)", raw},
		} {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", x.name, len(x.d), ms(p(x.d, 50)), ms(p(x.d, 99)), ms(p(x.d, 100)))
		}
		fmt.Fprintf(tw, "%s agent / raw CRI\t\t%.2f\t%.2f\t%.2f\t\n", title,
			ratio(p(agent, 50), p(raw, 50)), ratio(p(agent, 99), p(raw, 99)), ratio(p(agent, 100), p(raw, 100)))
	}
	section("1 at a time", r.seqAgent, r.seqBound, r.seqRaw)
	fmt.Fprintf(tw, "1 at a time agent: delete → gone\t%d\t%s\t%s\t%s\t\n", len(r.seqDelete), ms(p(r.seqDelete, 50)), ms(p(r.seqDelete, 99)), ms(p(r.seqDelete, 100)))
	section(fmt.Sprintf("%d at once", r.burst), r.burstAgent, r.burstBound, r.burstRaw)
	tw.Flush()
	fmt.Fprintln(w)
	for _, f := range r.figures() {
		if f.Goal == "" {
			continue
		}
		met := map[bool]string{true: "met", false: "MISSED"}[*f.Met]
		fmt.Fprintf(w, "%-48s %8.2f %-3s goal %-8s %s\n", f.Name, f.Value, f.Unit, f.Goal, met)
	}
	fmt.Fprintf(w, "%-48s %s\n", fmt.Sprintf("agent RSS with %d pods", r.burst), memString(r.mem, r.pss))
	fmt.Fprintf(w, "%-48s %s\n", "agent RSS, no pods, after the 1-at-a-time runs", memString(r.memNoPods, r.pssNoPods))
	fmt.Fprintf(w, "%-48s %8.1f ms\n", "agent CPU per pod, 1 at a time (start+stop)", report.Millis(r.seqAgentCPU))
}

// figures are the run's numbers with their goals (issue 5: p99 < 1 s and ≤ 1.3× raw
// CRI; RSS < 40 MB; idle CPU < 1 % of a core).
func (r *result) figures() []report.Figure {
	p := report.Percentile
	atMost := func(name string, v, limit float64, unit string) report.Figure {
		met := v <= limit
		return report.Figure{Name: name, Value: v, Unit: unit, Goal: fmt.Sprintf("≤ %g %s", limit, unit), Met: &met}
	}
	burst := fmt.Sprintf("%d at once", r.burst)
	figs := []report.Figure{
		report.Below("1 at a time: agent p99", report.Millis(p(r.seqAgent, 99))/1000, 1, "s"),
		atMost("1 at a time: agent/CRI p99", ratio(p(r.seqAgent, 99), p(r.seqRaw, 99)), 1.3, "x"),
		atMost("1 at a time: agent/CRI p50", ratio(p(r.seqAgent, 50), p(r.seqRaw, 50)), 1.3, "x"),
		report.Below(burst+": agent p99", report.Millis(p(r.burstAgent, 99))/1000, 1, "s"),
		atMost(burst+": agent/CRI p99", ratio(p(r.burstAgent, 99), p(r.burstRaw, 99)), 1.3, "x"),
		atMost(burst+": agent/CRI p50", ratio(p(r.burstAgent, 50), p(r.burstRaw, 50)), 1.3, "x"),
		report.Below(fmt.Sprintf("agent RSS with %d pods", r.burst), float64(r.mem.RSS)/1024, 40, "MB"),
		report.Plain(fmt.Sprintf("agent PSS with %d pods", r.burst), float64(r.pss)/1024, "MB"),
		report.Below(fmt.Sprintf("agent idle CPU with %d pods (%v)", r.burst, r.idle), r.idleCPUPercent, 1, "%"),
	}
	for _, x := range []row{{"1 at a time: agent", r.seqAgent}, {"1 at a time: raw CRI", r.seqRaw}, {burst + ": agent", r.burstAgent}, {burst + ": raw CRI", r.burstRaw}} {
		figs = append(figs, report.Plain(x.name+" p50", report.Millis(p(x.d, 50)), "ms"), report.Plain(x.name+" p99", report.Millis(p(x.d, 99)), "ms"))
	}
	for i := range figs {
		figs[i].Scenario = "podstartup"
	}
	return figs
}

// monotonicSeconds is CLOCK_MONOTONIC in seconds (0 if unreadable).
func monotonicSeconds() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
