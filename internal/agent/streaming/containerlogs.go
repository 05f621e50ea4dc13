package streaming

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// logQuery reads PodLogOptions from a kubelet-style query.
func logQuery(q map[string][]string, now time.Time) (LogOptions, bool, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var opts LogOptions
	opts.Follow = boolParam(get("follow"))
	opts.Timestamps = boolParam(get("timestamps"))
	previous := boolParam(get("previous"))
	if v := get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return opts, false, badRequest("tailLines: Invalid value: %q: must be an integer greater than or equal to 0", v)
		}
		opts.TailLines = &n
	}
	if v := get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return opts, false, badRequest("limitBytes: Invalid value: %q: must be an integer greater than 0", v)
		}
		opts.LimitBytes = &n
	}
	sinceSeconds, sinceTime := get("sinceSeconds"), get("sinceTime")
	if sinceSeconds != "" && sinceTime != "" {
		return opts, false, badRequest("at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if sinceSeconds != "" {
		n, err := strconv.ParseInt(sinceSeconds, 10, 64)
		if err != nil || n < 1 {
			return opts, false, badRequest("sinceSeconds: Invalid value: %q: must be an integer greater than 0", sinceSeconds)
		}
		opts.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if sinceTime != "" {
		t, err := time.Parse(time.RFC3339, sinceTime)
		if err != nil {
			return opts, false, badRequest("sinceTime: Invalid value: %q: must be an RFC3339 time", sinceTime)
		}
		opts.Since = t
	}
	return opts, previous, nil
}

// serveLogs streams a container's log file. The instance is ?containerID= when the
// caller (the API server, from the pod's status) names one; otherwise the newest
// instance, or with ?previous=true the one before it.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pod, container := refFrom(r), r.PathValue("container")
	opts, previous, err := logQuery(r.URL.Query(), time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := s.logInstance(r, pod, container, previous)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.cfg.Runtime.ContainerStatus(ctx, id, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	path := st.GetStatus().GetLogPath()
	if path == "" {
		s.writeError(w, r, badRequest("container %q in pod %q has no log file", container, pod.name))
		return
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			s.writeError(w, r, notFound("log file of container %q in pod %q not found", container, pod.name))
			return
		}
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var out io.Writer
	var flush func() error
	if opts.Follow {
		out = flushWriter{w: w, rc: http.NewResponseController(w)}
		_ = http.NewResponseController(w).Flush()
		flush = func() error { return nil }
	} else {
		bw := bufio.NewWriterSize(w, 32<<10)
		out, flush = bw, bw.Flush
	}
	follower := Follower{Interval: s.cfg.LogPollInterval, Running: func(ctx context.Context) bool {
		st, err := s.cfg.Runtime.ContainerStatus(ctx, id, false)
		if err != nil {
			return false
		}
		state := st.GetStatus().GetState()
		return state == runtimeapi.ContainerState_CONTAINER_RUNNING || state == runtimeapi.ContainerState_CONTAINER_CREATED
	}}
	if err := ReadLogs(ctx, path, opts, out, follower); err != nil && ctx.Err() == nil {
		s.log.Debug("read logs", "pod", pod.String(), "container", container, "err", err)
	}
	_ = flush()
}

// logInstance picks the container instance whose log is read.
func (s *Server) logInstance(r *http.Request, pod podRef, container string, previous bool) (string, error) {
	list, err := s.containerInstances(r.Context(), pod, container)
	if err != nil {
		return "", err
	}
	if want := r.URL.Query().Get("containerID"); want != "" {
		if i := strings.Index(want, "://"); i >= 0 {
			want = want[i+3:]
		}
		for _, c := range list {
			if c.Id == want {
				return c.Id, nil
			}
		}
		return "", notFound("container %q of %q in pod %q not found", want, container, pod.name)
	}
	if previous {
		if len(list) < 2 {
			return "", badRequest("previous terminated container %q in pod %q not found", container, pod.name)
		}
		return list[1].Id, nil
	}
	if len(list) == 0 {
		return "", badRequest("container %q in pod %q is waiting to start - no logs yet", container, pod.name)
	}
	return list[0].Id, nil
}

// flushWriter sends every write to the client at once (followed logs).
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
