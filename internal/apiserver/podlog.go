package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podLogOptions reads PodLogOptions from the query: 400 when a value does not parse,
// 422 when it is out of range (as kube-apiserver's ValidatePodLogOptions).
func podLogOptions(q url.Values, pod string) (corev1.PodLogOptions, error) {
	var opts corev1.PodLogOptions
	var errs []string
	flag := func(name string) bool {
		v := q.Get(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: invalid value %q: %v", name, v, err))
		}
		return b
	}
	number := func(name string) *int64 {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: invalid value %q: %v", name, v, err))
			return nil
		}
		return &n
	}
	opts.Container = q.Get("container")
	opts.Follow, opts.Previous, opts.Timestamps = flag("follow"), flag("previous"), flag("timestamps")
	opts.SinceSeconds, opts.TailLines, opts.LimitBytes = number("sinceSeconds"), number("tailLines"), number("limitBytes")
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("sinceTime: invalid value %q: %v", v, err))
		} else {
			opts.SinceTime = &metav1.Time{Time: t}
		}
	}
	if len(errs) > 0 {
		return opts, apierrors.NewBadRequest(strings.Join(errs, "; "))
	}
	var invalid field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		invalid = append(invalid, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		invalid = append(invalid, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		invalid = append(invalid, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		invalid = append(invalid, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if len(invalid) > 0 {
		return opts, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), pod, invalid)
	}
	return opts, nil
}

// logContainerID picks the container instance whose log is read from the pod's status,
// with the kubelet's texts for the cases that have none (validateContainerLogStatus).
func logContainerID(pod *corev1.Pod, container string, previous bool) (string, error) {
	var cs *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				cs = &list[i]
			}
		}
	}
	if cs == nil {
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not available", container, pod.Name))
	}
	last := cs.LastTerminationState.Terminated
	state := cs.State
	switch {
	case previous:
		if last == nil || last.ContainerID == "" {
			return "", apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name))
		}
		return last.ContainerID, nil
	case state.Running != nil:
		return cs.ContainerID, nil
	case state.Terminated != nil:
		if state.Terminated.ContainerID != "" {
			return state.Terminated.ContainerID, nil
		}
		if last != nil && last.ContainerID != "" {
			return last.ContainerID, nil
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is terminated", container, pod.Name))
	case last != nil:
		if last.ContainerID == "" {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is terminated", container, pod.Name))
		}
		return last.ContainerID, nil
	case state.Waiting != nil:
		switch reason := state.Waiting.Reason; reason {
		case "ErrImagePull":
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name))
		case "ImagePullBackOff":
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name))
		default:
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %v", container, pod.Name, reason))
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name))
}

// servePodLog streams a container's log from its node (GET pods/{name}/log).
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) {
	opts, err := podLogOptions(r.URL.Query(), pod.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pod.Spec.NodeName == "" {
		// As kube-apiserver: no node, no logs — an empty answer.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	}
	id, err := logContainerID(pod, container, opts.Previous)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := url.Values{}
	q.Set("podUID", string(pod.UID))
	q.Set("containerID", id)
	setTrue := func(k string, on bool) {
		if on {
			q.Set(k, "true")
		}
	}
	setTrue("follow", opts.Follow)
	setTrue("previous", opts.Previous)
	setTrue("timestamps", opts.Timestamps)
	for k, v := range map[string]*int64{"sinceSeconds": opts.SinceSeconds, "tailLines": opts.TailLines, "limitBytes": opts.LimitBytes} {
		if v != nil {
			q.Set(k, strconv.FormatInt(*v, 10))
		}
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	loc, err := s.nodeLocation(r.Context(), pod.Spec.NodeName, fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.nodeClient().Do(req)
	if err != nil {
		s.writeError(w, r, nodeError(err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.writeError(w, r, nodeResponseError(resp, pod.Name))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	copyFlushing(w, resp.Body, opts.Follow)
}

// copyFlushing copies a node's answer to the client, flushing each read when the
// client follows it.
func copyFlushing(w http.ResponseWriter, body io.Reader, flush bool) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flush {
				if rc.Flush() != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// nodeResponseError turns a node's failure into a Status, as kube-apiserver's
// GenericHttpResponseChecker does: the node's text becomes the message.
func nodeResponseError(resp *http.Response, name string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("%s", msg))
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", corev1.Resource("pods/log"), name, msg, 0, false)
}

// nodeError is a failure to reach a node: a 500 whose message is the error, which
// kubectl prints as "Error from server: ...".
func nodeError(err error) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error(),
	}}
}
