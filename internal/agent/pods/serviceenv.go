package pods

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// masterService is the Service every pod learns of, whatever its enableServiceLinks:
// the API server's, kubernetes in the default namespace.
const masterService = "kubernetes"

// serviceEnv is the environment the kubelet gives a pod's containers about Services
// (what "Discovering services: environment variables" in Kubernetes' documentation
// describes): for every Service with a cluster IP in the pod's namespace — unless the pod
// sets enableServiceLinks false — and always for default/kubernetes,
// <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT, <NAME>_SERVICE_PORT_<PORT NAME> for named
// ports, and Docker's link variables <NAME>_PORT and <NAME>_PORT_<port>_<PROTO>[_PROTO|
// _PORT|_ADDR]. A Service of the pod's own namespace hides a master one of the same name.
func serviceEnv(pod *corev1.Pod, services []*corev1.Service) map[string]string {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*corev1.Service{}
	for _, svc := range services {
		if !hasClusterIP(svc) {
			continue
		}
		switch {
		case links && svc.Namespace == pod.Namespace:
			chosen[svc.Name] = svc
		case svc.Namespace == metav1.NamespaceDefault && svc.Name == masterService:
			if _, ok := chosen[svc.Name]; !ok {
				chosen[svc.Name] = svc
			}
		}
	}
	env := map[string]string{}
	for _, svc := range chosen {
		addServiceVars(env, svc)
	}
	return env
}

func hasClusterIP(svc *corev1.Service) bool {
	ip := svc.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone && len(svc.Spec.Ports) > 0
}

func addServiceVars(env map[string]string, svc *corev1.Service) {
	prefix := envName(svc.Name)
	ip := svc.Spec.ClusterIP
	env[prefix+"_SERVICE_HOST"] = ip
	env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
	for i, sp := range svc.Spec.Ports {
		port := strconv.Itoa(int(sp.Port))
		if sp.Name != "" {
			env[prefix+"_SERVICE_PORT_"+envName(sp.Name)] = port
		}
		proto := strings.ToLower(string(sp.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		url := fmt.Sprintf("%s://%s", proto, net.JoinHostPort(ip, port))
		if i == 0 {
			env[prefix+"_PORT"] = url // Docker special-cases the first port
		}
		p := fmt.Sprintf("%s_PORT_%s_%s", prefix, port, strings.ToUpper(proto))
		env[p] = url
		env[p+"_PROTO"] = proto
		env[p+"_PORT"] = port
		env[p+"_ADDR"] = ip
	}
}

// envName turns a Service or port name into its variable form: my-svc → MY_SVC.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}
