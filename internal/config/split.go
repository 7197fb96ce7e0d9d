package config

import "maps"

// ServerConfig is the server configuration part of a document: what
// identifies and binds this server rather than what it serves. A restore
// "without server configuration" keeps the running server's ServerConfig
// and takes everything else from the backup.
type ServerConfig struct {
	ServerName       string
	ServerUID        string
	LogLevel         string
	TraceLevel       string
	AdminEndpoint    AdminEndpoint
	HighAvailability HighAvailability
	AdminUsers       map[string]*AdminUser
	// EndpointInterfaces holds each Endpoint's Interface, keyed by endpoint name.
	EndpointInterfaces map[string]string
}

// Split divides c into its server configuration and its messaging
// configuration (everything else). Neither shares memory with c. In the
// messaging part the server fields are empty: ServerName, ServerUID,
// LogLevel, TraceLevel and every Endpoint's Interface are "", AdminEndpoint
// and HighAvailability are zero values and AdminUsers is empty; it is not a
// valid document until joined with a ServerConfig. Generation stays with
// the messaging part.
func Split(c *Config) (server *ServerConfig, messaging *Config) {
	m := c.Clone()
	server = &ServerConfig{
		ServerName:         m.ServerName,
		ServerUID:          m.ServerUID,
		LogLevel:           m.LogLevel,
		TraceLevel:         m.TraceLevel,
		AdminEndpoint:      m.AdminEndpoint,
		HighAvailability:   m.HighAvailability,
		AdminUsers:         m.AdminUsers,
		EndpointInterfaces: make(map[string]string, len(m.Endpoints)),
	}
	m.ServerName, m.ServerUID, m.LogLevel, m.TraceLevel = "", "", "", ""
	m.AdminEndpoint = AdminEndpoint{}
	m.HighAvailability = HighAvailability{}
	m.AdminUsers = map[string]*AdminUser{}
	for name, e := range m.Endpoints {
		server.EndpointInterfaces[name] = e.Interface
		e.Interface = ""
	}
	return server, m
}

// Join builds a whole document from a server configuration and a messaging
// configuration; it is the inverse of Split (Join(Split(c)) equals c). The
// result shares no memory with its arguments and is not validated.
//
// An Endpoint of messaging whose name has no entry in
// server.EndpointInterfaces (an endpoint the server has never bound, e.g.
// when a backup from another server is restored without server
// configuration) gets Interface "All", its default. Entries of
// EndpointInterfaces for endpoints absent from messaging are dropped.
// A nil server stands for the server configuration of New(): default
// singletons, no ServerUID, no admin users; a nil messaging for no objects.
func Join(server *ServerConfig, messaging *Config) *Config {
	if messaging == nil {
		messaging = New()
	}
	c := messaging.Clone()
	if server == nil {
		server, _ = Split(New())
	}
	c.ServerName = server.ServerName
	c.ServerUID = server.ServerUID
	c.LogLevel = server.LogLevel
	c.TraceLevel = server.TraceLevel
	c.AdminEndpoint = server.AdminEndpoint
	c.HighAvailability = server.HighAvailability
	c.AdminUsers = maps.Clone(server.AdminUsers)
	for name, u := range c.AdminUsers {
		cp := *u
		c.AdminUsers[name] = &cp
	}
	c.ensureMaps()
	for name, e := range c.Endpoints {
		if iface, ok := server.EndpointInterfaces[name]; ok {
			e.Interface = iface
		} else {
			e.Interface = "All"
		}
	}
	return c
}
