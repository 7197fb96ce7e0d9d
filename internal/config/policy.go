package config

// Filters are the client attributes a policy applies to. A policy applies to
// a client when every non-empty filter matches; at least one filter must be
// set. ClientID, UserID, GroupID and CommonNames are patterns whose only
// wildcard is a trailing "*"; ClientAddress is a comma list of addresses,
// address ranges "a-b" and "*"; Protocol is a list of "MQTT", "JMS".
type Filters struct {
	ClientID      string
	UserID        string
	GroupID       string
	ClientAddress string
	CommonNames   string
	Protocol      List
}

// Empty reports whether no filter is set.
func (f *Filters) Empty() bool {
	return f.ClientID == "" && f.UserID == "" && f.GroupID == "" &&
		f.ClientAddress == "" && f.CommonNames == "" && len(f.Protocol) == 0
}

// ConnectionPolicy authorizes a client to connect through an endpoint.
type ConnectionPolicy struct {
	Name string
	Filters
	AllowDurable             bool
	AllowPersistentMessages  bool
	MaxSessionExpiryInterval string // "unlimited" or seconds
	Description              string
}

// TopicPolicy authorizes publishing and subscribing on topics matching Topic.
type TopicPolicy struct {
	Name  string
	Topic string // pattern: trailing "*", may hold ${ClientID} etc.
	Filters
	ActionList                     List // Publish, Subscribe
	MaxMessages                    int
	MaxMessagesBehavior            string // RejectNewMessages, DiscardOldMessages
	MaxMessageTimeToLive           string // "unlimited" or seconds
	DisconnectedClientNotification bool
	Description                    string
}

// SubscriptionPolicy authorizes receiving from and controlling shared
// subscriptions whose name matches Subscription.
type SubscriptionPolicy struct {
	Name         string
	Subscription string
	Filters
	ActionList          List // Receive, Control
	MaxMessages         int
	MaxMessagesBehavior string
	Description         string
}

// QueuePolicy authorizes sending to, receiving from and browsing queues whose
// name matches Queue.
type QueuePolicy struct {
	Name  string
	Queue string
	Filters
	ActionList           List // Send, Receive, Browse
	MaxMessageTimeToLive string
	Description          string
}

// Validate checks the policy on its own.
func (p *ConnectionPolicy) Validate() error { return validateObject(p).join() }

// Validate checks the policy on its own.
func (p *TopicPolicy) Validate() error { return validateObject(p).join() }

// Validate checks the policy on its own.
func (p *SubscriptionPolicy) Validate() error { return validateObject(p).join() }

// Validate checks the policy on its own.
func (p *QueuePolicy) Validate() error { return validateObject(p).join() }

func checkFilters(typ, name string, f *Filters, errs *errList) {
	if f.Empty() {
		errs.add(typ, name, "", Missing,
			"at least one of ClientID, UserID, GroupID, ClientAddress, CommonNames, Protocol is required")
	}
}

func (p *ConnectionPolicy) rules(errs *errList) {
	checkFilters("ConnectionPolicy", p.Name, &p.Filters, errs)
}
func (p *TopicPolicy) rules(errs *errList) { checkFilters("TopicPolicy", p.Name, &p.Filters, errs) }
func (p *SubscriptionPolicy) rules(errs *errList) {
	checkFilters("SubscriptionPolicy", p.Name, &p.Filters, errs)
}
func (p *QueuePolicy) rules(errs *errList) { checkFilters("QueuePolicy", p.Name, &p.Filters, errs) }
