package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// timedOp is one API call of a load phase; worker and i identify it.
type timedOp func(ctx context.Context, worker, i int) error

// runLoad runs n calls of op spread over clients goroutines (each works on the indices
// i ≡ worker mod clients) and returns the latency of every call.
func runLoad(ctx context.Context, clients, n int, op timedOp) ([]time.Duration, error) {
	latencies := make([]time.Duration, n)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += clients {
				start := time.Now()
				if err := op(ctx, w, i); err != nil {
					errs <- fmt.Errorf("call %d: %w", i, err)
					return
				}
				latencies[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return latencies, <-errs
}

// phaseResult is what one load phase measured.
type phaseResult struct {
	verb    string
	clients int
	latency []time.Duration
	elapsed time.Duration
}

// runPhases measures create, get, update and list at the given concurrency. Each phase
// works in a namespace of its own; list reads a namespace of listSize ConfigMaps.
func runPhases(ctx context.Context, client kubernetes.Interface, clients, n, listSize int) ([]phaseResult, error) {
	ns, err := makeNamespace(ctx, client, fmt.Sprintf("bench-c%d-", clients))
	if err != nil {
		return nil, err
	}
	cms := client.CoreV1().ConfigMaps(ns)
	name := func(i int) string { return "cm-" + strconv.Itoa(i) }
	latest := make([]*corev1.ConfigMap, n)
	phases := []struct {
		verb string
		op   timedOp
	}{
		{"create", func(ctx context.Context, _, i int) error {
			cm, err := cms.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: name(i), Labels: map[string]string{"bench": "load"}},
				Data:       map[string]string{"payload": "0123456789abcdef0123456789abcdef"},
			}, metav1.CreateOptions{})
			latest[i] = cm
			return err
		}},
		{"get", func(ctx context.Context, _, i int) error {
			_, err := cms.Get(ctx, name((i*7919)%n), metav1.GetOptions{})
			return err
		}},
		{"update", func(ctx context.Context, _, i int) error {
			// Each index belongs to one worker, so updates never conflict.
			cm := latest[i].DeepCopy()
			cm.Data["payload"] = strconv.Itoa(i)
			out, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
			latest[i] = out
			return err
		}},
	}
	var results []phaseResult
	for _, p := range phases {
		start := time.Now()
		lat, err := runLoad(ctx, clients, n, p.op)
		if err != nil {
			return nil, fmt.Errorf("%s at %d clients: %w", p.verb, clients, err)
		}
		results = append(results, phaseResult{verb: p.verb, clients: clients, latency: lat, elapsed: time.Since(start)})
	}

	listNS, err := makeNamespace(ctx, client, "bench-list-")
	if err != nil {
		return nil, err
	}
	listCMs := client.CoreV1().ConfigMaps(listNS)
	if _, err := runLoad(ctx, 20, listSize, func(ctx context.Context, _, i int) error {
		_, err := listCMs.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name(i), Labels: benchListLabels}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("fill list namespace: %w", err)
	}
	lists := max(n/5, 20)
	start := time.Now()
	lat, err := runLoad(ctx, clients, lists, func(ctx context.Context, _, _ int) error {
		list, err := listCMs.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		// The namespace also holds what controllers put in every namespace
		// (kube-root-ca.crt): count the bench's own.
		ours := 0
		for i := range list.Items {
			if list.Items[i].Labels["bench"] == benchListLabels["bench"] {
				ours++
			}
		}
		if ours != listSize {
			return fmt.Errorf("list returned %d of the bench's %d items", ours, listSize)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list at %d clients: %w", clients, err)
	}
	results = append(results, phaseResult{verb: fmt.Sprintf("list(%d)", listSize), clients: clients, latency: lat, elapsed: time.Since(start)})
	return results, nil
}

// fanoutPrefix starts the names of the objects the fan-out writer creates.
const fanoutPrefix = "fan-"

// benchListLabels mark the ConfigMaps the list phase creates.
var benchListLabels = map[string]string{"bench": "list"}

func makeNamespace(ctx context.Context, client kubernetes.Interface, prefix string) (string, error) {
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	return ns.Name, nil
}

// sentAnnotation carries the time a fan-out write was sent, in Unix nanoseconds.
const sentAnnotation = "bench.berth.dev/sent"

// runFanout opens watchers watches on one namespace, has one writer create events objects
// there one after another, and returns, for every (watcher, object), the time from the
// write being sent to the watcher receiving its ADDED event.
func runFanout(ctx context.Context, client kubernetes.Interface, watchers, events int) ([]time.Duration, error) {
	ns, err := makeNamespace(ctx, client, "bench-fanout-")
	if err != nil {
		return nil, err
	}
	cms := client.CoreV1().ConfigMaps(ns)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var streams []watch.Interface
	defer func() {
		for _, w := range streams {
			w.Stop()
		}
	}()
	for range watchers {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: ""})
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		streams = append(streams, w)
	}
	latencies := make([][]time.Duration, watchers)
	errs := make(chan error, watchers)
	var wg sync.WaitGroup
	for i, w := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(latencies[i]) < events {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						errs <- errors.New("watch closed early")
						return
					}
					received := time.Now()
					cm, isCM := ev.Object.(*corev1.ConfigMap)
					// Controllers add their own objects to every namespace (kube-root-ca.crt).
					if ev.Type != watch.Added || !isCM || !strings.HasPrefix(cm.Name, fanoutPrefix) {
						continue
					}
					sent, err := strconv.ParseInt(cm.Annotations[sentAnnotation], 10, 64)
					if err != nil {
						errs <- fmt.Errorf("event without send time: %v", err)
						return
					}
					latencies[i] = append(latencies[i], received.Sub(time.Unix(0, sent)))
				case <-ctx.Done():
					errs <- fmt.Errorf("watcher %d got %d of %d events: %w", i, len(latencies[i]), events, ctx.Err())
					return
				}
			}
		}()
	}
	for i := range events {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name:        fanoutPrefix + strconv.Itoa(i),
			Annotations: map[string]string{sentAnnotation: strconv.FormatInt(time.Now().UnixNano(), 10)},
		}}, metav1.CreateOptions{})
		if err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("fan-out write %d: %w", i, err)
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	return all, nil
}
