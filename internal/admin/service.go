package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mqsight/mqsight/internal/job"
)

// registerService registers the service routes: status (whole, or one
// service's), restart and the status of long-running requests. Backup and
// restore register their own routes from their own file.
func (a *API) registerService() {
	a.route("GET /ima/v1/service/status", readAccess, a.getStatus)
	a.route("GET /ima/v1/service/status/{Service}", readAccess, a.getServiceStatus)
	a.route("POST /ima/v1/service/restart", systemAccess, a.postRestart)
	a.route("GET /ima/v1/service/status/{op}/{RequestID}", readAccess, a.getJobStatus)
}

// statusParts returns the parts of GET /ima/v1/service/status, keyed by
// the service names Amlen uses for GET /ima/v1/service/status/<Service>.
// mqsight runs no cluster, MQ Connectivity, plug-in or SNMP service, so
// those names are not parts.
func (a *API) statusParts() map[string]any {
	st := a.opts.Service.Status()
	now := a.opts.Now()
	up := int64(0)
	if !st.Started.IsZero() {
		up = int64(now.Sub(st.Started) / time.Second)
	}
	role := st.HARole
	if !st.HAEnabled && role == "" {
		role = "HADISABLED"
	}
	return map[string]any{
		"Server": map[string]any{
			"Name": st.Name, "UID": st.UID, "Status": st.Status, "State": st.State,
			"StateDescription": st.StateDescription, "ServerTime": now.UTC().Format(time.RFC3339),
			"UpTimeSeconds": up, "Version": st.Version,
			"ErrorCode": st.ErrorCode, "ErrorMessage": st.ErrorMessage,
		},
		// mqsight has no HA service running: Amlen reports that as
		// Status "Inactive", whether or not HA is enabled.
		"HighAvailability": map[string]any{"Status": "Inactive", "Enabled": st.HAEnabled, "NewRole": role},
	}
}

// getStatus reports every part: {"Version":"v1","Server":{...},
// "HighAvailability":{...}}.
func (a *API) getStatus(w http.ResponseWriter, r *http.Request, _ *caller) error {
	reply := a.statusParts()
	reply["Version"] = "v1"
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// getServiceStatus reports one part, as Amlen's
// GET /ima/v1/service/status/<Service> does: {"Version":"v1","Server":{...}}.
// The name is case-sensitive, as Amlen's; an unknown one is 404.
func (a *API) getServiceStatus(w http.ResponseWriter, r *http.Request, _ *caller) error {
	name := r.PathValue("Service")
	part, ok := a.statusParts()[name]
	if !ok {
		return apiError(CodeNotFound, "Service", name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"Version": "v1", name: part})
	return nil
}

// parseRestart validates a restart body as MessageSight does: Service must
// be "Server"; Maintenance is "start" or "stop"; CleanStore a boolean;
// Reset "config" (which implies CleanStore). Maintenance cannot be combined
// with CleanStore or with Reset; any other field is refused by name.
func parseRestart(body map[string]any) (RestartRequest, error) {
	var req RestartRequest
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	service := false
	for _, k := range keys {
		v := body[k]
		switch k {
		case "Service":
			if v != "Server" {
				// A bad value like any other (CWLNA0112), even when only
				// the case differs: names are case-sensitive, as in Amlen.
				return req, apiError(CodeBadValue, `Service must be "Server" (case-sensitive)`)
			}
			service = true
		case "Maintenance":
			s, _ := v.(string)
			switch strings.ToLower(s) {
			case "start", "stop":
				req.Maintenance = strings.ToLower(s)
			default:
				return req, apiError(CodeBadValue, `Maintenance must be "start" or "stop"`)
			}
		case "CleanStore":
			b, ok := v.(bool)
			if !ok {
				return req, apiError(CodeBadValue, "CleanStore must be true or false")
			}
			req.CleanStore = b
		case "Reset":
			if v != "config" {
				return req, apiError(CodeBadValue, `Reset must be "config"`)
			}
			req.ResetConfig = true
		default:
			return req, apiError(CodeBadArgument, k)
		}
	}
	switch {
	case !service:
		return req, apiError(CodeBadRequest, `restart needs "Service":"Server"`)
	case req.Maintenance != "" && req.CleanStore:
		return req, apiError(CodeBadRequest, "Maintenance cannot be combined with CleanStore")
	case req.Maintenance != "" && req.ResetConfig:
		return req, apiError(CodeBadRequest, "Maintenance cannot be combined with Reset")
	}
	if req.ResetConfig {
		req.CleanStore = true
	}
	return req, nil
}

// postRestart starts a restart. The reply comes at once (the restart is a
// job: its RequestID is in the reply and status/restart/<RequestID> and
// GET /ima/v1/service/status report progress).
func (a *API) postRestart(w http.ResponseWriter, r *http.Request, _ *caller) error {
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	req, err := parseRestart(body)
	if err != nil {
		return err
	}
	st, err := a.opts.Service.Restart(req)
	if errors.Is(err, job.ErrBusy) {
		return apiError(CodeBusy, err.Error())
	}
	if err != nil {
		return err
	}
	a.log.Info("restart requested", "maintenance", req.Maintenance, "cleanStore", req.CleanStore,
		"resetConfig", req.ResetConfig, "requestID", st.RequestID)
	renderOK(w, st.RequestID)
	return nil
}

// jobReply is the body of GET /ima/v1/service/status/{op}/{RequestID}.
type jobReply struct {
	Version    string
	RequestID  string
	Operation  string
	Status     string // queued, running, succeeded, failed, cancelled
	Step       string `json:",omitempty"`
	BytesDone  int64
	BytesTotal int64
	Created    string
	Started    string         `json:",omitempty"`
	Finished   string         `json:",omitempty"`
	Result     map[string]any `json:",omitempty"`
	Error      string         `json:",omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// getJobStatus reports any long-running request of the job registry.
func (a *API) getJobStatus(w http.ResponseWriter, r *http.Request, _ *caller) error {
	op, id := r.PathValue("op"), r.PathValue("RequestID")
	st, err := a.opts.Jobs.Get(id)
	if err != nil || !strings.EqualFold(st.Op, op) {
		return apiError(CodeJobNotFound, op, id)
	}
	writeJSON(w, http.StatusOK, jobReply{
		Version: "v1", RequestID: st.RequestID, Operation: st.Op, Status: string(st.State),
		Step: st.Step, BytesDone: st.BytesDone, BytesTotal: st.BytesTotal,
		Created: rfc3339(st.Created), Started: rfc3339(st.Started), Finished: rfc3339(st.Finished),
		Result: st.Result, Error: st.Error,
	})
	return nil
}
