package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	sessionAffinityTypes = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	ipFamilyPolicies     = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack,
		corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	trafficDistributions = []string{corev1.ServiceTrafficDistributionPreferClose,
		corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
)

// maxClientIPServiceAffinitySeconds is the longest ClientIP session
// affinity: one day.
const maxClientIPServiceAffinitySeconds = 86400

// clusterIPs returns spec.clusterIPs, or [clusterIP] when only the singular
// field is set (the registry normally syncs the two before validation).
func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return svc.Spec.ClusterIPs
}

func isHeadlessService(svc *corev1.Service) bool {
	ips := clusterIPs(svc)
	return len(ips) == 1 && ips[0] == corev1.ClusterIPNone
}

func serviceType(svc *corev1.Service) corev1.ServiceType {
	if svc.Spec.Type == "" {
		return corev1.ServiceTypeClusterIP
	}
	return svc.Spec.Type
}

// ValidateService validates a service on create. Node port ranges and
// conflicts are left to the allocator.
func ValidateService(svc *corev1.Service) field.ErrorList {
	allErrs := ValidateObjectMeta(&svc.ObjectMeta, true, ValidateServiceName, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	typ := serviceType(svc)
	ips := clusterIPs(svc)

	if len(svc.Spec.Ports) == 0 && !isHeadlessService(svc) && typ != corev1.ServiceTypeExternalName {
		allErrs = append(allErrs, field.Required(specPath.Child("ports"), ""))
	}
	switch typ {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadlessService(svc) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), ips[0], fmt.Sprintf("may not be set to 'None' for %s services", typ)))
		}
	case corev1.ServiceTypeExternalName:
		if len(ips) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(svc.Spec.IPFamilies) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if svc.Spec.IPFamilyPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the name as fully qualified.
		if cname := strings.TrimSuffix(svc.Spec.ExternalName, "."); cname != "" {
			allErrs = append(allErrs, ValidateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			allErrs = append(allErrs, field.Required(specPath.Child("externalName"), ""))
		}
	}

	portsPath := specPath.Child("ports")
	portNames := sets.New[string]()
	for i := range svc.Spec.Ports {
		allErrs = append(allErrs, validateServicePort(&svc.Spec.Ports[i], len(svc.Spec.Ports) > 1, portNames, portsPath.Index(i))...)
	}
	allErrs = append(allErrs, ValidateLabels(svc.Spec.Selector, specPath.Child("selector"))...)

	switch svc.Spec.SessionAffinity {
	case "", corev1.ServiceAffinityNone:
		if svc.Spec.SessionAffinityConfig != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	case corev1.ServiceAffinityClientIP:
		// A missing config is defaulted to a 3 hour timeout.
		if cfg := svc.Spec.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPServiceAffinitySeconds {
				allErrs = append(allErrs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
					fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPServiceAffinitySeconds)))
			}
		}
	default:
		allErrs = append(allErrs, field.NotSupported(specPath.Child("sessionAffinity"), svc.Spec.SessionAffinity, sessionAffinityTypes))
	}

	allErrs = append(allErrs, validateClusterIPsRelatedFields(svc)...)
	for i, ip := range svc.Spec.ExternalIPs {
		idxPath := specPath.Child("externalIPs").Index(i)
		if errs := validation.IsValidIP(idxPath, ip); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
		} else {
			allErrs = append(allErrs, ValidateNonSpecialIP(ip, idxPath)...)
		}
	}
	if svc.Spec.Type != "" && !isServiceType(svc.Spec.Type) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("type"), svc.Spec.Type, serviceTypes))
	}
	if typ == corev1.ServiceTypeClusterIP {
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort != 0 {
				allErrs = append(allErrs, field.Forbidden(portsPath.Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	nodePorts := map[corev1.ServicePort]bool{}
	ports := map[corev1.ServicePort]bool{}
	for i, port := range svc.Spec.Ports {
		protocol := port.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		if port.NodePort != 0 {
			key := corev1.ServicePort{Protocol: protocol, NodePort: port.NodePort}
			if nodePorts[key] {
				allErrs = append(allErrs, field.Duplicate(portsPath.Index(i).Child("nodePort"), port.NodePort))
			}
			nodePorts[key] = true
		}
		key := corev1.ServicePort{Protocol: protocol, Port: port.Port}
		if ports[key] {
			allErrs = append(allErrs, field.Duplicate(portsPath.Index(i), key))
		}
		ports[key] = true
	}
	if len(svc.Spec.LoadBalancerSourceRanges) > 0 {
		p := specPath.Child("loadBalancerSourceRanges")
		if typ != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, value := range svc.Spec.LoadBalancerSourceRanges {
			allErrs = append(allErrs, validation.IsValidCIDR(p.Index(i), strings.TrimSpace(value))...)
		}
	}
	if svc.Spec.AllocateLoadBalancerNodePorts != nil && typ != corev1.ServiceTypeLoadBalancer {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if svc.Spec.LoadBalancerClass != nil {
		if typ != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		} else {
			allErrs = append(allErrs, ValidateQualifiedName(*svc.Spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
		}
	}
	allErrs = append(allErrs, validateServiceTrafficPolicies(svc, typ, specPath)...)
	return allErrs
}

func isServiceType(t corev1.ServiceType) bool {
	for _, v := range serviceTypes {
		if t == v {
			return true
		}
	}
	return false
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, allNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if requireName && sp.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else if sp.Name != "" {
		allErrs = append(allErrs, ValidateDNS1123Label(sp.Name, fldPath.Child("name"))...)
		if allNames.Has(sp.Name) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Child("name"), sp.Name))
		} else {
			allNames.Insert(sp.Name)
		}
	}
	allErrs = append(allErrs, messagesToErrors(validation.IsValidPortNum(int(sp.Port)), fldPath.Child("port"), sp.Port)...)
	if sp.Protocol != "" && !isSupportedProtocol(sp.Protocol) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("protocol"), sp.Protocol, supportedPortProtocols))
	}
	// Defaulting sets a zero targetPort to port, so a zero port is reported twice, as
	// Kubernetes does.
	allErrs = append(allErrs, ValidatePortNumOrName(sp.TargetPort, fldPath.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		allErrs = append(allErrs, ValidateQualifiedName(*sp.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return allErrs
}

func validateServiceTrafficPolicies(svc *corev1.Service, typ corev1.ServiceType, specPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	externallyAccessible := typ == corev1.ServiceTypeLoadBalancer || typ == corev1.ServiceTypeNodePort ||
		(typ == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
	etp := svc.Spec.ExternalTrafficPolicy
	switch {
	case !externallyAccessible && etp != "":
		allErrs = append(allErrs, field.Invalid(specPath.Child("externalTrafficPolicy"), etp, "may only be set for externally-accessible services"))
	case externallyAccessible && etp != "" && etp != corev1.ServiceExternalTrafficPolicyCluster && etp != corev1.ServiceExternalTrafficPolicyLocal:
		allErrs = append(allErrs, field.NotSupported(specPath.Child("externalTrafficPolicy"), etp,
			[]corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}))
	}
	needsHealthCheck := typ == corev1.ServiceTypeLoadBalancer && etp == corev1.ServiceExternalTrafficPolicyLocal
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 {
		if !needsHealthCheck {
			allErrs = append(allErrs, field.Invalid(specPath.Child("healthCheckNodePort"), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			allErrs = append(allErrs, messagesToErrors(validation.IsValidPortNum(int(hc)), specPath.Child("healthCheckNodePort"), hc)...)
		}
	}
	if p := svc.Spec.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster && *p != corev1.ServiceInternalTrafficPolicyLocal {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p,
			[]corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}))
	}
	if td := svc.Spec.TrafficDistribution; td != nil {
		ok := false
		for _, v := range trafficDistributions {
			ok = ok || *td == v
		}
		if !ok {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("trafficDistribution"), *td, trafficDistributions))
		}
	}
	return allErrs
}

// validateClusterIPsRelatedFields validates clusterIP(s), ipFamilies and
// ipFamilyPolicy against each other.
func validateClusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	if serviceType(svc) == corev1.ServiceTypeExternalName {
		return nil
	}
	var allErrs field.ErrorList
	specPath := field.NewPath("spec")
	ipsPath := specPath.Child("clusterIPs")
	ips := clusterIPs(svc)
	if svc.Spec.ClusterIP != "" && ips[0] != svc.Spec.ClusterIP {
		allErrs = append(allErrs, field.Invalid(ipsPath, ips, "first value must match `clusterIP`"))
	} else if svc.Spec.ClusterIP == "" && len(ips) != 0 {
		allErrs = append(allErrs, field.Invalid(ipsPath, ips, "must be empty when `clusterIP` is not specified"))
	}
	seen := sets.New[corev1.IPFamily]()
	for i, family := range svc.Spec.IPFamilies {
		if family != corev1.IPv4Protocol && family != corev1.IPv6Protocol {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("ipFamilies").Index(i), family, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}))
		}
		if seen.Has(family) {
			allErrs = append(allErrs, field.Duplicate(specPath.Child("ipFamilies").Index(i), family))
		}
		seen.Insert(family)
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p != corev1.IPFamilyPolicySingleStack &&
		*p != corev1.IPFamilyPolicyPreferDualStack && *p != corev1.IPFamilyPolicyRequireDualStack {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p, ipFamilyPolicies))
	}
	invalid := false
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				invalid = true
				allErrs = append(allErrs, field.Invalid(ipsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		errs := validation.IsValidIP(ipsPath.Index(i), ip)
		invalid = invalid || len(errs) > 0
		allErrs = append(allErrs, errs...)
	}
	if len(ips) > 2 {
		allErrs = append(allErrs, field.Invalid(ipsPath, ips, "may only hold up to 2 values"))
	}
	if invalid {
		return allErrs
	}
	if len(ips) > 1 && !isDualStack(ips) {
		allErrs = append(allErrs, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
	}
	if !isHeadlessService(svc) {
		for i, ip := range ips {
			if i >= len(svc.Spec.IPFamilies) {
				break
			}
			if svc.Spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6String(ip) {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if svc.Spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6String(ip) {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return allErrs
}

// ValidateServiceUpdate validates a service update. The primary cluster IP
// and IP family may not change once set (a secondary one may be added or
// released), except when the service becomes or stops being ExternalName.
// Keeping an allocated clusterIP when the client omits it is the strategy's
// job, as in Kubernetes.
func ValidateServiceUpdate(svc, oldSvc *corev1.Service) field.ErrorList {
	allErrs := validateMetaUpdate(&svc.ObjectMeta, &oldSvc.ObjectMeta)
	allErrs = append(allErrs, validateClusterIPsUpdate(oldSvc, svc)...)
	allErrs = append(allErrs, validateIPFamiliesUpdate(oldSvc, svc)...)
	needsHC := func(s *corev1.Service) bool {
		return serviceType(s) == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	}
	if needsHC(oldSvc) && needsHC(svc) && oldSvc.Spec.HealthCheckNodePort != 0 && svc.Spec.HealthCheckNodePort != oldSvc.Spec.HealthCheckNodePort {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "healthCheckNodePort"), fieldImmutableErrorMsg))
	}
	if serviceType(oldSvc) == corev1.ServiceTypeLoadBalancer && serviceType(svc) == corev1.ServiceTypeLoadBalancer &&
		oldSvc.Spec.LoadBalancerClass != nil {
		allErrs = append(allErrs, ValidateImmutableField(svc.Spec.LoadBalancerClass, oldSvc.Spec.LoadBalancerClass, field.NewPath("spec", "loadBalancerClass"))...)
	}
	return append(allErrs, ValidateService(svc)...)
}

func validateClusterIPsUpdate(oldSvc, svc *corev1.Service) field.ErrorList {
	if serviceType(svc) == corev1.ServiceTypeExternalName || serviceType(oldSvc) == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadlessService(oldSvc) && isHeadlessService(svc) {
		return nil
	}
	var allErrs field.ErrorList
	p := field.NewPath("spec", "clusterIPs")
	oldIPs, newIPs := clusterIPs(oldSvc), clusterIPs(svc)
	switch {
	case len(oldIPs) == len(newIPs):
		for i, ip := range oldIPs {
			if ip != newIPs[i] {
				allErrs = append(allErrs, field.Invalid(p.Index(i), newIPs, "may not change once set"))
			}
		}
	case len(oldIPs) > len(newIPs):
		if len(newIPs) == 0 {
			allErrs = append(allErrs, field.Invalid(p.Index(0), newIPs, "primary clusterIP can not be unset"))
		} else if newIPs[0] != oldIPs[0] {
			allErrs = append(allErrs, field.Invalid(p.Index(0), newIPs, "may not change once set"))
		}
		if len(newIPs) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(oldIPs) > 0 && newIPs[0] != oldIPs[0] {
			allErrs = append(allErrs, field.Invalid(p.Index(0), newIPs, "may not change once set"))
		}
	}
	return allErrs
}

func validateIPFamiliesUpdate(oldSvc, svc *corev1.Service) field.ErrorList {
	if serviceType(svc) == corev1.ServiceTypeExternalName || serviceType(oldSvc) == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadlessService(oldSvc) || isHeadlessService(svc) {
		return nil
	}
	oldF, newF := oldSvc.Spec.IPFamilies, svc.Spec.IPFamilies
	p := field.NewPath("spec", "ipFamilies").Index(0)
	switch {
	case len(oldF) == len(newF):
		for i := range oldF {
			if oldF[i] != newF[i] {
				return field.ErrorList{field.Invalid(p, newF, "may not change once set")}
			}
		}
	case len(oldF) > len(newF):
		var allErrs field.ErrorList
		if len(newF) > 0 && newF[0] != oldF[0] {
			allErrs = append(allErrs, field.Invalid(p, newF, "may not change once set"))
		}
		if len(newF) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
		return allErrs
	default:
		if len(oldF) > 0 && newF[0] != oldF[0] {
			return field.ErrorList{field.Invalid(p, newF, "may not change once set")}
		}
	}
	return nil
}

// ValidateServiceStatusUpdate validates an update of a service's status.
func ValidateServiceStatusUpdate(svc, oldSvc *corev1.Service) field.ErrorList {
	allErrs := validateMetaUpdate(&svc.ObjectMeta, &oldSvc.ObjectMeta)
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	if serviceType(svc) != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) != 0 {
		return append(allErrs, field.Forbidden(ingPath, "may only be used when `spec.type` is 'LoadBalancer'"))
	}
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		idxPath := ingPath.Index(i)
		if ing.IP != "" {
			allErrs = append(allErrs, validation.IsValidIP(idxPath.Child("ip"), ing.IP)...)
		}
		if ing.IPMode != nil {
			if ing.IP == "" {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child("ipMode"), "may not be specified when `ip` is not set"))
			} else if *ing.IPMode != corev1.LoadBalancerIPModeVIP && *ing.IPMode != corev1.LoadBalancerIPModeProxy {
				allErrs = append(allErrs, field.NotSupported(idxPath.Child("ipMode"), *ing.IPMode,
					[]corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}))
			}
		}
		if ing.Hostname != "" {
			allErrs = append(allErrs, ValidateDNS1123Subdomain(ing.Hostname, idxPath.Child("hostname"))...)
			if _, isIP := parseIP(ing.Hostname); isIP {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return allErrs
}

// ValidateEndpoints validates Endpoints on create and update.
func ValidateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	allErrs := ValidateObjectMeta(&ep.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	subsetsPath := field.NewPath("subsets")
	for i := range ep.Subsets {
		ss := &ep.Subsets[i]
		idxPath := subsetsPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(idxPath, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], idxPath.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], idxPath.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			allErrs = append(allErrs, validateEndpointPort(&ss.Ports[j], len(ss.Ports) > 1, idxPath.Child("ports").Index(j))...)
		}
	}
	return allErrs
}

// ValidateEndpointsUpdate validates an Endpoints update.
func ValidateEndpointsUpdate(ep, oldEp *corev1.Endpoints) field.ErrorList {
	allErrs := validateMetaUpdate(&ep.ObjectMeta, &oldEp.ObjectMeta)
	return append(allErrs, ValidateEndpoints(ep)...)
}

func validateEndpointAddress(addr *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	allErrs := validation.IsValidIP(fldPath.Child("ip"), addr.IP)
	if addr.Hostname != "" {
		allErrs = append(allErrs, ValidateDNS1123Label(addr.Hostname, fldPath.Child("hostname"))...)
	}
	if addr.NodeName != nil {
		allErrs = append(allErrs, validateNameWith(ValidateNodeName, *addr.NodeName, fldPath.Child("nodeName"))...)
	}
	if len(allErrs) == 0 {
		allErrs = append(allErrs, ValidateNonSpecialIP(addr.IP, fldPath.Child("ip"))...)
	}
	return allErrs
}

func validateEndpointPort(port *corev1.EndpointPort, requireName bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if requireName && port.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else if port.Name != "" {
		allErrs = append(allErrs, ValidateDNS1123Label(port.Name, fldPath.Child("name"))...)
	}
	allErrs = append(allErrs, messagesToErrors(validation.IsValidPortNum(int(port.Port)), fldPath.Child("port"), port.Port)...)
	if port.Protocol != "" && !isSupportedProtocol(port.Protocol) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("protocol"), port.Protocol, supportedPortProtocols))
	}
	if port.AppProtocol != nil {
		allErrs = append(allErrs, ValidateQualifiedName(*port.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return allErrs
}
