package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mqsight/mqsight/internal/config"
)

// registerConfiguration registers /ima/v1/configuration.
func (a *API) registerConfiguration() {
	a.route("GET /ima/v1/configuration", readAccess, a.getConfiguration)
	a.route("GET /ima/v1/configuration/{Type}", readAccess, a.getConfiguration)
	a.route("GET /ima/v1/configuration/{Type}/{Name...}", readAccess, a.getConfiguration)
	a.route("POST /ima/v1/configuration", messagingAccess, a.postConfiguration)
	a.route("DELETE /ima/v1/configuration/{Type}", messagingAccess, a.deleteConfiguration)
	a.route("DELETE /ima/v1/configuration/{Type}/{Name...}", messagingAccess, a.deleteConfiguration)
}

// getConfiguration renders the whole configuration, one type or one
// object, in MessageSight shape. Secrets are never rendered.
func (a *API) getConfiguration(w http.ResponseWriter, r *http.Request, _ *caller) error {
	doc := a.opts.Service.Config().Current()
	out := map[string]any{"Version": "v1"}
	typ, name := r.PathValue("Type"), r.PathValue("Name")
	if typ == "" {
		for _, t := range config.Types() {
			v, err := renderType(doc, t)
			if err != nil {
				return err
			}
			out[t.Name] = v
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	t, ok := config.LookupType(typ)
	if !ok {
		return apiError(CodeNotFound, typ, name)
	}
	if name == "" {
		v, err := renderType(doc, t)
		if err != nil {
			return err
		}
		out[t.Name] = v
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if t.Singleton {
		return apiError(CodeNotFound, typ, name)
	}
	props, err := config.ObjectProperties(doc, t.Name, name)
	if err != nil {
		var v *config.ValidationError
		if errors.As(err, &v) {
			return apiError(CodeNotFound, typ, name)
		}
		return err
	}
	if t.List {
		out[t.Name] = []any{props}
	} else {
		out[t.Name] = map[string]any{name: props}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scalar reports whether a singleton is a plain value ("ServerName":"x")
// rather than an object ("AdminEndpoint":{...}).
func scalar(t config.ObjectType) bool {
	return t.Singleton && len(t.Properties) == 1 && t.Properties[0].Name == t.Name
}

// renderType renders every object of one type.
func renderType(doc *config.Config, t config.ObjectType) (any, error) {
	if t.Singleton {
		props, err := config.ObjectProperties(doc, t.Name, "")
		if err != nil {
			return nil, err
		}
		if scalar(t) {
			return props[t.Name], nil
		}
		return props, nil
	}
	names, err := config.ObjectNames(doc, t.Name)
	if err != nil {
		return nil, err
	}
	list := make([]any, 0, len(names))
	objs := make(map[string]any, len(names))
	for _, n := range names {
		props, err := config.ObjectProperties(doc, t.Name, n)
		if err != nil {
			return nil, err
		}
		list = append(list, props)
		objs[n] = props
	}
	if t.List {
		return list, nil
	}
	return objs, nil
}

// change is one object of a POST: its type, name ("" for singletons and
// TrustedCertificate entries) and the properties to set.
type change struct {
	t     config.ObjectType
	name  string
	props map[string]any
	// overwrite is a CertificateProfile's Overwrite request flag (not
	// stored): nil when not given.
	overwrite *bool
}

// parseChanges turns a POST body into changes, in a fixed order (by type
// name, then object name), refusing unknown types and wrong shapes.
func parseChanges(body map[string]any) ([]change, error) {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []change
	for _, k := range keys {
		v := body[k]
		if k == "Version" {
			if v != "v1" {
				return nil, apiError(CodeBadValue, "Version must be \"v1\"")
			}
			continue
		}
		t, ok := config.LookupType(k)
		if !ok {
			return nil, apiError(CodeUnknownProperty, k)
		}
		switch {
		case scalar(t):
			out = append(out, change{t: t, props: map[string]any{k: v}})
		case t.Singleton:
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, apiError(CodeBadValue, k+" must be a JSON object")
			}
			out = append(out, change{t: t, props: obj})
		case t.List:
			items, ok := v.([]any)
			if !ok {
				items = []any{v}
			}
			for _, item := range items {
				obj, ok := item.(map[string]any)
				if !ok {
					return nil, apiError(CodeBadValue, k+" entries must be JSON objects")
				}
				out = append(out, change{t: t, props: obj})
			}
		default:
			objs, ok := v.(map[string]any)
			if !ok {
				return nil, apiError(CodeBadValue, k+" must be a JSON object of named objects")
			}
			names := make([]string, 0, len(objs))
			for n := range objs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				obj, ok := objs[n].(map[string]any)
				if !ok {
					return nil, apiError(CodeBadValue, k+" "+strconv.Quote(n)+" must be a JSON object (use DELETE to remove it)")
				}
				c := change{t: t, name: n, props: obj}
				if t.Name == "CertificateProfile" {
					if err := c.takeCertificateFlags(); err != nil {
						return nil, err
					}
				}
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		return nil, apiError(CodeBadRequest, "the body names no configuration object")
	}
	return out, nil
}

// takeCertificateFlags removes from a CertificateProfile change the
// request-only properties of MessageSight's CertificateProfile: Overwrite
// (whether the upload may replace a different file of the same name; by
// default a SystemAdministrator's may) and the passwords of encrypted
// certificate and key files, which are refused unless empty: mqsight
// takes unencrypted PEM files only, so that no file password is stored.
func (c *change) takeCertificateFlags() error {
	where := "CertificateProfile " + strconv.Quote(c.name)
	if v, ok := c.props["Overwrite"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return apiError(CodeBadValue, where+": Overwrite must be true or false")
		}
		c.overwrite = &b
		delete(c.props, "Overwrite")
	}
	for _, p := range []string{"CertFilePassword", "KeyFilePassword"} {
		v, ok := c.props[p]
		if !ok {
			continue
		}
		if v != "" && v != nil {
			return apiError(CodeBadValue, where+": "+p+": encrypted certificate and key files are not supported; "+
				"upload them unencrypted (e.g. openssl pkey -in encrypted.key -out plain.key) and omit "+p)
		}
		delete(c.props, p)
	}
	return nil
}

// serverType reports whether every property of t is server configuration
// (the singletons and AdminUser): only a SystemAdministrator may change or
// delete such objects.
func serverType(t config.ObjectType) bool {
	for _, p := range t.Properties {
		if !p.Server {
			return false
		}
	}
	return len(t.Properties) > 0
}

// touchesServer reports whether a change sets server configuration.
func (c change) touchesServer() bool {
	if serverType(c.t) {
		return true
	}
	for name := range c.props {
		if p, ok := c.t.Property(name); ok && p.Server {
			return true
		}
	}
	return false
}

// postConfiguration applies every object of the body as ONE configuration
// change: all are validated together and either all apply or none does.
// Certificate files named by CertificateProfile and TrustedCertificate
// objects move from the uploaded files into the certificate store as part
// of the change.
func (a *API) postConfiguration(w http.ResponseWriter, r *http.Request, who *caller) error {
	body, err := a.readObject(w, r)
	if err != nil {
		return err
	}
	changes, err := parseChanges(body)
	if err != nil {
		return err
	}
	cur := a.opts.Service.Config().Current()
	for _, c := range changes {
		if c.touchesServer() || adminEndpointObject(cur, c.t.Name, c.name) || reservedFileUse(cur, c) != "" {
			if err := who.require(systemAccess); err != nil {
				return err
			}
		}
	}
	comps, release, err := a.acquire()
	if err != nil {
		return err
	}
	defer release()
	if comps.Config.Frozen() { // before certificate files are staged; Update checks again
		return fromValidation(config.ErrFrozen)
	}

	// One change at a time: staging, Update and commit or rollback of the
	// certificate files must not interleave with another POST's.
	a.changeMu.Lock()
	defer a.changeMu.Unlock()
	staged, err := a.stageCertificateFiles(comps.Config.CertificateDir(), changes, who)
	if err != nil {
		return err
	}
	_, err = comps.Config.Update(func(doc *config.Config) error {
		for _, c := range changes {
			// Checked again on the document being changed: the check above
			// read an earlier snapshot. The admin endpoint's self-signed
			// files are its identity: only a SystemAdministrator may put
			// them into a profile (reservedFileUse).
			if adminEndpointObject(doc, c.t.Name, c.name) || reservedFileUse(doc, c) != "" {
				if err := who.require(systemAccess); err != nil {
					return err
				}
			}
			if err := config.SetProperties(doc, c.t.Name, c.name, c.props); err != nil {
				return err
			}
		}
		if err := checkCertificateFiles(doc, comps.Config.CertificateDir(), changes, staged, time.Now()); err != nil {
			return err
		}
		return checkSystemAdministrator(doc)
	})
	if err != nil {
		staged.rollback()
		return fromValidation(err)
	}
	staged.commit()
	if staged.renewed() {
		// The document may be unchanged (the same names), so no change
		// was delivered; listeners must still load the new files.
		comps.Config.FilesChanged()
	}
	reply := Reply{Version: "v1", Code: CodeOK, Message: apiError(CodeOK).Error()}
	if warn := notListening(comps); warn != "" {
		reply.Message += " " + warn
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// notListening says which enabled endpoints do not listen after a change
// (a port taken by another process): the change stands, and the engine
// retries them, but the operator should know now. "" when all listen.
func notListening(comps Components) string {
	if comps.Engine == nil {
		return ""
	}
	cfg := comps.Config.Current()
	names := make([]string, 0, len(cfg.Endpoints))
	for n := range cfg.Endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if err := comps.Engine.ListenerError(n); err != nil {
			out = append(out, fmt.Sprintf("Endpoint %q is not listening: %v", n, err))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "Warning: " + strings.Join(out, "; ") + " (retried until it can listen; see GET /ima/v1/monitor/Endpoint)."
}

// deleteConfiguration deletes one named object. Singletons cannot be
// deleted; a Queue that holds messages needs ?DiscardMessages=true.
func (a *API) deleteConfiguration(w http.ResponseWriter, r *http.Request, who *caller) error {
	typ, name := r.PathValue("Type"), r.PathValue("Name")
	t, ok := config.LookupType(typ)
	if !ok {
		return apiError(CodeUnknownProperty, typ)
	}
	if t.Singleton {
		return apiError(CodeSingletonDelete, t.Name)
	}
	if name == "" {
		return apiError(CodeBadRequest, "DELETE needs an object name: /ima/v1/configuration/"+t.Name+"/<Name>")
	}
	if serverType(t) {
		if err := who.require(systemAccess); err != nil {
			return err
		}
	}
	comps, release, err := a.acquire()
	if err != nil {
		return err
	}
	defer release()
	names, err := config.ObjectNames(comps.Config.Current(), t.Name)
	if err != nil {
		return err
	}
	if !slices.Contains(names, name) { // TrustedCertificate names are not in string order
		return apiError(CodeDeleteNotFound, t.Name+"/"+name)
	}
	discard := false
	if t.Name == "Queue" {
		n, err := a.opts.Service.QueueMessages(comps, name)
		if err != nil {
			return err
		}
		if n > 0 {
			if !queryFlag(r, "DiscardMessages") {
				return apiError(CodeQueueNotEmpty, strconv.Quote(name), n)
			}
			discard = true
		}
	}
	_, err = comps.Config.Update(func(doc *config.Config) error {
		if err := config.Delete(doc, t.Name, name); err != nil {
			return err
		}
		return checkSystemAdministrator(doc)
	})
	if err != nil {
		return fromValidation(err)
	}
	if discard {
		if err := a.opts.Service.DiscardQueue(comps, name); err != nil {
			return err
		}
	}
	renderOK(w, "")
	return nil
}

// adminEndpointObject reports whether typ/name is the SecurityProfile of
// the AdminEndpoint or that profile's CertificateProfile. They decide the
// certificate the admin API presents, so they count as server
// configuration: a MessagingAdministrator may not change them.
func adminEndpointObject(doc *config.Config, typ, name string) bool {
	sp := doc.SecurityProfiles[doc.AdminEndpoint.SecurityProfile]
	if sp == nil {
		return false
	}
	return typ == "SecurityProfile" && name == sp.Name ||
		typ == "CertificateProfile" && name == sp.CertificateProfile
}

// checkSystemAdministrator refuses a document without a SystemAdministrator:
// nobody could administer the server any more.
func checkSystemAdministrator(doc *config.Config) error {
	for _, u := range doc.AdminUsers {
		if u.Role == RoleSystemAdministrator {
			return nil
		}
	}
	return apiError(CodeLastAdmin)
}

// acquire gets the running components or a 503 (unavailable).
func (a *API) acquire() (Components, func(), error) {
	c, release, err := a.opts.Service.Acquire()
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return Components{}, nil, a.unavailable()
		}
		return Components{}, nil, err
	}
	return c, release, nil
}

// unavailable is the reply to a request that needs components the server
// does not have now, from the server's status.
func (a *API) unavailable() *Error { return unavailableError(a.opts.Service.Status()) }

// unavailableRetrySeconds is the Retry-After of a 503 during a restart:
// a restart takes a few seconds (closing, reopening the store, recovery).
const unavailableRetrySeconds = 5

// unavailableError chooses the 503 (CodeUnavailable) for st. A server
// that failed to start (ErrorCode set, maintenance state) is said to be
// so: it stays without components until someone restarts it, so the
// reply names that and carries no Retry-After. Otherwise the server is on
// its way (stopping, starting): the reply names the step and asks to
// retry after a few seconds.
func unavailableError(st ServerStatus) *Error {
	if st.ErrorCode != 0 {
		return apiError(CodeUnavailable, fmt.Sprintf("in maintenance after a failed restart (ErrorCode %d; the reason is "+
			"ErrorMessage in GET /ima/v1/service/status) and needs POST /ima/v1/service/restart", st.ErrorCode))
	}
	e := apiError(CodeUnavailable, st.StateDescription+"; retry when it is running")
	e.Header = http.Header{"Retry-After": {strconv.Itoa(unavailableRetrySeconds)}}
	return e
}
