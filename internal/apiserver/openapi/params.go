package openapi

import (
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Query parameters as kube-apiserver documents them. kubectl looks for
// fieldValidation among the PATCH parameters to decide whether the server
// validates fields itself (apply refuses to run otherwise).

func queryParam(name, typ, description string) spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: name, In: "query", Description: description},
		SimpleSchema:      spec.SimpleSchema{Type: typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func pathParam(name, description string) spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: name, In: "path", Required: true, Description: description},
		SimpleSchema:      spec.SimpleSchema{Type: "string"},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func bodyParam(schema spec.Schema) spec.Parameter {
	return spec.Parameter{ParamProps: spec.ParamProps{Name: "body", In: "body", Required: true, Schema: &schema}}
}

const (
	dryRunDoc          = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"
	fieldManagerDoc    = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."
	fieldValidationDoc = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."
	forceDoc           = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."
	prettyDoc          = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."
	selectorDocs       = "A selector to restrict the list of returned objects by their "
	resourceVersionDoc = "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"
)

func prettyParam() spec.Parameter { return queryParam("pretty", "string", prettyDoc) }

func writeParams(patch bool) []spec.Parameter {
	params := []spec.Parameter{
		queryParam("dryRun", "string", dryRunDoc),
		queryParam("fieldManager", "string", fieldManagerDoc),
		queryParam("fieldValidation", "string", fieldValidationDoc),
	}
	if patch {
		params = append(params, queryParam("force", "boolean", forceDoc))
	}
	return params
}

// listParams are the parameters of list and watch; deletecollection takes
// them too, without the watch ones.
func listParams(watch bool) []spec.Parameter {
	params := []spec.Parameter{
		queryParam("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize."),
		queryParam("fieldSelector", "string", selectorDocs+"fields. Defaults to everything."),
		queryParam("labelSelector", "string", selectorDocs+"labels. Defaults to everything."),
		queryParam("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results."),
		queryParam("resourceVersion", "string", resourceVersionDoc),
		queryParam("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set.\n\nDefaults to unset"),
		queryParam("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation."),
		queryParam("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
	}
	if watch {
		params = append(params,
			queryParam("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion."),
			queryParam("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
		)
	}
	return params
}

func deleteParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("dryRun", "string", dryRunDoc),
		queryParam("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
		queryParam("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
		queryParam("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
		queryParam("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
	}
}

func logParams() []spec.Parameter {
	return []spec.Parameter{
		queryParam("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
		queryParam("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
		queryParam("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to."),
		queryParam("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output."),
		queryParam("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
		queryParam("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs."),
		queryParam("stream", "string", "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used."),
		queryParam("tailLines", "integer", "If set, the number of lines from the end of the logs to show."),
		queryParam("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
	}
}

// connectParams are the parameters of the streaming subresources.
func connectParams(subresource string) []spec.Parameter {
	stdio := func(params ...spec.Parameter) []spec.Parameter {
		return append(params,
			queryParam("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod."),
			queryParam("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
			queryParam("stdin", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
			queryParam("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
			queryParam("tty", "boolean", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
		)
	}
	switch subresource {
	case "exec":
		return stdio(queryParam("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell."))
	case "attach":
		return stdio()
	case "portforward":
		return []spec.Parameter{queryParam("ports", "integer", "List of ports to forward Required when using WebSockets")}
	case "proxy":
		return []spec.Parameter{queryParam("path", "string", "Path is the URL path to use for the current proxy request.")}
	default:
		return nil
	}
}
