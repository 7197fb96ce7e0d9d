// Package policy authenticates MQTT clients and authorizes what they do, the
// MessageSight way: an Endpoint names a SecurityProfile (how clients prove
// who they are) and lists ConnectionPolicies, TopicPolicies and
// SubscriptionPolicies (what they may do).
//
// Authentication (Policy.Connect):
//   - A SecurityProfile with UseClientCertificate: the engine's TLS listener
//     has already verified the client's certificate chain against the
//     profile's TrustedCertificates; the leaf certificate's Subject Common
//     Name becomes the client's CommonName (the CommonNames filter and the
//     ${CommonName} variable). A connection without a certificate is refused.
//   - A SecurityProfile with UsePasswordAuthentication: the client must send
//     a user name, and a password that verifies against the messaging User's
//     argon2id hash (config.PasswordChecker, constant time; an unknown user
//     costs the same hash as a known one). With AllowNullPassword a user
//     name without a password is accepted without a check.
//     Failures answer 0x86 (3.1.1: return code 4), are counted
//     (Stats.FailedLogins) and logged without the password. Successes are
//     remembered for five minutes (credCache), failures limited per client
//     address before any hashing (failLimiter: a token is reserved before
//     the check and refunded on success; 0x9F, 3.1.1: 5). Hashes are
//     bounded process-wide (the shared PasswordChecker); a login that
//     finds no free slot before its connect timeout answers 0x89 (3.1.1: 3).
//   - No SecurityProfile, or UsePasswordAuthentication=false: nothing is
//     checked; a user name the client sends is its UserID as given.
//   - Groups: the user's GroupMembership, followed through nested groups.
//
// Authorization: the client may connect when at least one ConnectionPolicy
// of the endpoint matches it (and, for a persistent session, has
// AllowDurable). A messaging action is allowed when at least one policy of
// that kind on the endpoint matches the client, matches the destination and
// lists the action; the first such policy in the endpoint's list supplies
// the action's properties (MaxMessages, MaxMessagesBehavior,
// MaxMessageTimeToLive). docs/policies.md is the user-facing description;
// docs/decisions/policy.md records the choices.
//
// Filters (all set filters must match): ClientID, UserID, GroupID and
// CommonNames are exact or end in a '*' wildcard; an absent attribute (no
// user name, no certificate) matches no pattern, not even "*". ClientAddress
// is a list of addresses, ranges "low-high" and "*". Protocol lists protocol
// names (this server speaks MQTT).
//
// Destinations: a Topic or Subscription pattern is exact or ends in '*',
// and may hold ${ClientID}, ${UserID}, ${GroupID} and ${CommonName}, replaced
// by the client's values as literal text (a '*' or '+' inside a client
// identifier is never a wildcard). A subscription filter is allowed only if
// every topic it can match is covered by the pattern (see covers).
//
// Dependencies: the engine (internal/mqtt) declares the Policy and Client
// interfaces it consumes; this package implements them and imports mqtt
// for those types only. The server composes the two.
//
// Concurrency: a Policy and the Clients it returns are safe for concurrent
// use and hold no lock; the engine may call them under its own mutex. The
// configuration passed to each call is an immutable snapshot, so a change
// applies to new connections at once and to messaging actions of existing
// connections at their next action; connection-level properties (the
// identity, AllowDurable, AllowPersistentMessages, MaxSessionExpiryInterval)
// are fixed at CONNECT.
package policy
