package volumes

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
)

// objectSource reads the configMaps and secrets volumes project (a NotFound error when
// missing).
type objectSource interface {
	configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// tokenSource gives the service-account token a projected serviceAccountToken source
// shows for a pod.
type tokenSource interface {
	token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, error)
}

// payloadInput is what one volume's files are computed from.
type payloadInput struct {
	ctx         context.Context
	pod         *corev1.Pod
	objects     objectSource
	tokens      tokenSource
	allocatable corev1.ResourceList
}

const defaultFileMode = 0o644

func fileMode(mode *int32, defaultMode *int32) os.FileMode {
	if mode != nil {
		return os.FileMode(*mode)
	}
	if defaultMode != nil {
		return os.FileMode(*defaultMode)
	}
	return defaultFileMode
}

// keyedData is a configMap's or secret's data by key with the items to project.
type keyedData struct {
	kind, name string // "configmap"/"secret", for messages
	data       map[string][]byte
	items      []corev1.KeyToPath
	optional   bool
}

// project adds the keys (all, or the items) to payload, as the kubelet's MakePayload.
func (k keyedData) project(payload map[string]File, defaultMode *int32) error {
	if len(k.items) == 0 {
		for key, v := range k.data {
			payload[key] = File{Data: v, Mode: fileMode(nil, defaultMode)}
		}
		return nil
	}
	for _, it := range k.items {
		v, ok := k.data[it.Key]
		if !ok {
			if k.optional {
				continue
			}
			return fmt.Errorf("%s references non-existent %s key: %s", k.kind, k.kind, it.Key)
		}
		payload[it.Path] = File{Data: v, Mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

func (in payloadInput) configMapData(name string, items []corev1.KeyToPath, optional *bool) (keyedData, bool, error) {
	k := keyedData{kind: "configmap", name: name, items: items, optional: optional != nil && *optional}
	cm, err := in.objects.configMap(in.ctx, in.pod.Namespace, name)
	if apierrors.IsNotFound(err) {
		if k.optional {
			return k, false, nil
		}
		return k, false, fmt.Errorf("configmap %q not found", name)
	}
	if err != nil {
		return k, false, err
	}
	k.data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for key, v := range cm.Data {
		k.data[key] = []byte(v)
	}
	for key, v := range cm.BinaryData {
		k.data[key] = v
	}
	return k, true, nil
}

func (in payloadInput) secretData(name string, items []corev1.KeyToPath, optional *bool) (keyedData, bool, error) {
	k := keyedData{kind: "secret", name: name, items: items, optional: optional != nil && *optional}
	s, err := in.objects.secret(in.ctx, in.pod.Namespace, name)
	if apierrors.IsNotFound(err) {
		if k.optional {
			return k, false, nil
		}
		return k, false, fmt.Errorf("secret %q not found", name)
	}
	if err != nil {
		return k, false, err
	}
	k.data = s.Data
	return k, true, nil
}

// payload computes the files of a configMap, secret, downwardAPI or projected volume.
func (in payloadInput) payload(vol *corev1.Volume) (map[string]File, error) {
	payload := map[string]File{}
	switch {
	case vol.ConfigMap != nil:
		src := vol.ConfigMap
		k, _, err := in.configMapData(src.Name, src.Items, src.Optional)
		if err != nil {
			return nil, err
		}
		return payload, k.project(payload, src.DefaultMode)
	case vol.Secret != nil:
		src := vol.Secret
		k, _, err := in.secretData(src.SecretName, src.Items, src.Optional)
		if err != nil {
			return nil, err
		}
		return payload, k.project(payload, src.DefaultMode)
	case vol.DownwardAPI != nil:
		return payload, in.downward(payload, vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode)
	case vol.Projected != nil:
		return payload, in.projected(payload, vol.Projected)
	}
	return nil, fmt.Errorf("volume %q: not a projected kind", vol.Name)
}

func (in payloadInput) projected(payload map[string]File, p *corev1.ProjectedVolumeSource) error {
	for _, src := range p.Sources {
		switch {
		case src.ConfigMap != nil:
			k, _, err := in.configMapData(src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
			if err != nil {
				return err
			}
			if err := k.project(payload, p.DefaultMode); err != nil {
				return err
			}
		case src.Secret != nil:
			k, _, err := in.secretData(src.Secret.Name, src.Secret.Items, src.Secret.Optional)
			if err != nil {
				return err
			}
			if err := k.project(payload, p.DefaultMode); err != nil {
				return err
			}
		case src.DownwardAPI != nil:
			if err := in.downward(payload, src.DownwardAPI.Items, p.DefaultMode); err != nil {
				return err
			}
		case src.ServiceAccountToken != nil:
			token, err := in.tokens.token(in.ctx, in.pod, src.ServiceAccountToken)
			if err != nil {
				return err
			}
			// The kubelet's mode is the volume's defaultMode too (0600 and a chown only
			// with an fsGroup or fsUser, which berth does not apply to volumes).
			payload[src.ServiceAccountToken.Path] = File{Data: token, Mode: fileMode(nil, p.DefaultMode)}
		default:
			return fmt.Errorf("projected volume source not supported by this agent")
		}
	}
	return nil
}

func (in payloadInput) downward(payload map[string]File, items []corev1.DownwardAPIVolumeFile, defaultMode *int32) error {
	for _, it := range items {
		var value string
		var err error
		switch {
		case it.FieldRef != nil:
			value, err = podField(in.pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			value, err = in.containerResource(it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downwardAPI item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return err
		}
		payload[it.Path] = File{Data: []byte(value), Mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

// podField renders a downward API fieldRef of a volume (labels and annotations as the
// kubelet's FormatMap: sorted key="quoted value" lines).
func podField(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldPath in downwardAPI volume: %s", path)
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// containerResource renders a resourceFieldRef in units of its divisor, rounded up;
// limits not set are the node's allocatable (as the kubelet's).
func (in payloadInput) containerResource(ref *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for i := range in.pod.Spec.Containers {
		if in.pod.Spec.Containers[i].Name == ref.ContainerName {
			c = &in.pod.Spec.Containers[i]
		}
	}
	for i := range in.pod.Spec.InitContainers {
		if c == nil && in.pod.Spec.InitContainers[i].Name == ref.ContainerName {
			c = &in.pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: container %q not found in pod", ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	res := corev1.ResourceName(name)
	q, found := c.Resources.Requests[res]
	if kind == "limits" {
		if q, found = c.Resources.Limits[res]; !found {
			q, found = in.allocatable[res]
		}
	}
	if !found {
		q = resource.Quantity{}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if res == corev1.ResourceCPU {
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		if kind == "requests" && v == 0 && found {
			v = 1
		}
		return strconv.FormatInt(int64(v), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}
