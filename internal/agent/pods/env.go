package pods

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// APIEnv resolves env and envFrom through the API server (configMaps and secrets are
// read when a container starts), fieldRef from the pod, resourceFieldRef from the
// container's resources with the node's allocatable as the default limit.
type APIEnv struct {
	Client kubernetes.Interface
	// HostIPs are the node's addresses (status.hostIP(s)).
	HostIPs func() []string
	// Allocatable is the node's allocatable (limits not set in the spec).
	Allocatable func() corev1.ResourceList
	// Services lists the cluster's Services, for the service environment (serviceEnv);
	// nil gives none. Its error (the Services not read yet) fails the container's start,
	// to be retried, as the kubelet's does.
	Services func() ([]*corev1.Service, error)
}

// Env implements EnvResolver.
func (e APIEnv) Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]*runtimeapi.KeyValue, error) {
	var services map[string]string
	if e.Services != nil {
		all, err := e.Services()
		if err != nil {
			return nil, fmt.Errorf("cannot construct the service environment: %w", err)
		}
		services = serviceEnv(pod, all)
	}
	var order []string
	vars := map[string]string{}
	// lookup is what $(VAR) may name: the variables so far, then the service ones.
	lookup := maps.Clone(services)
	if lookup == nil {
		lookup = map[string]string{}
	}
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
		lookup[k] = v
	}
	cache := objectCache{client: e.Client, ns: pod.Namespace, ctx: ctx}
	for _, from := range c.EnvFrom {
		data, err := cache.envFromData(from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			if k = from.Prefix + k; len(validation.IsEnvVarName(k)) == 0 {
				set(k, v)
			}
		}
	}
	// envFrom maps have no order; sort what they added for a stable environment.
	slices.Sort(order)
	for _, env := range c.Env {
		if env.ValueFrom == nil {
			set(env.Name, expand(env.Value, lookup))
			continue
		}
		v, ok, err := e.valueFrom(&cache, pod, c, env.ValueFrom, podIPs)
		if err != nil {
			return nil, err
		}
		if ok {
			set(env.Name, v)
		}
	}
	// The service variables come last, those the container sets itself left out.
	extra := make([]string, 0, len(services))
	for k := range services {
		if _, ok := vars[k]; !ok {
			extra = append(extra, k)
			vars[k] = services[k]
		}
	}
	slices.Sort(extra)
	order = append(order, extra...)
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(vars[k])})
	}
	return out, nil
}

// valueFrom resolves one valueFrom; ok is false for an optional source that is missing.
func (e APIEnv) valueFrom(cache *objectCache, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, podIPs []string) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := e.fieldRef(pod, from.FieldRef.FieldPath, podIPs)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceFieldRef(c, from.ResourceFieldRef, e.allocatable())
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := cache.configMap(ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := cache.secret(ref.Name)
		if err != nil {
			if optional && apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

func (e APIEnv) allocatable() corev1.ResourceList {
	if e.Allocatable == nil {
		return nil
	}
	return e.Allocatable()
}

func (e APIEnv) hostIPs() []string {
	if e.HostIPs == nil {
		return nil
	}
	return e.HostIPs()
}

// fieldRef resolves the downward API fields the kubelet supports in env.
func (e APIEnv) fieldRef(pod *corev1.Pod, path string, podIPs []string) (string, error) {
	first := func(l []string) string {
		if len(l) == 0 {
			return ""
		}
		return l[0]
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(e.hostIPs()), nil
	case "status.hostIPs":
		return strings.Join(e.hostIPs(), ","), nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return m[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// resourceFieldRef renders a container's request or limit in units of the divisor,
// rounded up (limits not set default to the node's allocatable).
func resourceFieldRef(c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	res := corev1.ResourceName(name)
	var q resource.Quantity
	var found bool
	if kind == "limits" {
		q, found = c.Resources.Limits[res]
		if !found {
			q, found = allocatable[res]
		}
	} else {
		q, found = c.Resources.Requests[res]
	}
	if !found {
		// An unset request is 0; an unknown node allocatable too.
		q = resource.Quantity{}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch res {
	case corev1.ResourceCPU:
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		if kind == "requests" && v == 0 && found {
			v = 1
		}
		return strconv.FormatInt(int64(v), 10), nil
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "hugepages-2Mi", "hugepages-1Gi":
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
}

// objectCache reads each configMap and secret of one container start once.
type objectCache struct {
	client     kubernetes.Interface
	ns         string
	ctx        context.Context
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func (o *objectCache) configMap(name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := o.client.CoreV1().ConfigMaps(o.ns).Get(o.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if o.configMaps == nil {
		o.configMaps = map[string]*corev1.ConfigMap{}
	}
	o.configMaps[name] = cm
	return cm, nil
}

func (o *objectCache) secret(name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	s, err := o.client.CoreV1().Secrets(o.ns).Get(o.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if o.secrets == nil {
		o.secrets = map[string]*corev1.Secret{}
	}
	o.secrets[name] = s
	return s, nil
}

// envFromData is the key/value data one envFrom source contributes (nil for a missing
// optional source).
func (o *objectCache) envFromData(from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := o.configMap(from.ConfigMapRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				return nil, nil
			}
			return nil, err
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := o.secret(from.SecretRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				return nil, nil
			}
			return nil, err
		}
		out := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}
