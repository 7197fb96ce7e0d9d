package config

// HighAvailability configures the HA pair. It is server configuration.
type HighAvailability struct {
	EnableHA            bool
	Group               string
	StartupMode         string // AutoDetect, StandAlone
	PreferredPrimary    bool
	LocalReplicationNIC string // IP address literal
	LocalDiscoveryNIC   string
	RemoteDiscoveryNIC  string
	DiscoveryTimeout    int // seconds
	HeartbeatTimeout    int // seconds
}

// AdminEndpoint is the listener of the REST admin API. It is server
// configuration.
type AdminEndpoint struct {
	Port            int
	Interface       string
	SecurityProfile string
}

// Validate checks the HA settings on their own.
func (h *HighAvailability) Validate() error { return validateObject(h).join() }

// Validate checks the admin endpoint on its own (not its SecurityProfile).
func (a *AdminEndpoint) Validate() error { return validateObject(a).join() }

func (h *HighAvailability) rules(errs *errList) {
	if !h.EnableHA {
		return
	}
	for _, p := range []struct{ name, v string }{
		{"LocalReplicationNIC", h.LocalReplicationNIC},
		{"LocalDiscoveryNIC", h.LocalDiscoveryNIC},
		{"RemoteDiscoveryNIC", h.RemoteDiscoveryNIC},
	} {
		if p.v == "" {
			errs.add("HighAvailability", "", p.name, Missing, "%s is required when EnableHA is true", p.name)
		}
	}
}
