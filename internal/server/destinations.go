package server

import (
	"context"
	"fmt"

	"github.com/mqsight/mqsight/internal/backup"
	"github.com/mqsight/mqsight/internal/destination"
	"github.com/mqsight/mqsight/internal/destination/file"
	"github.com/mqsight/mqsight/internal/destination/s3"
	"github.com/mqsight/mqsight/internal/destination/sftp"
)

// destinationOptions tune the store destinations the server opens. The
// zero value is production: known_hosts in the user's home, TLS for S3.
type destinationOptions struct {
	SFTP sftp.Options
	S3   s3.Options
}

// destinationOpener is the scheme → implementation table of store backup
// destinations, written out here in the composition root (no registry):
//
//	file://         file.FromLocation   (credentials ignored)
//	sftp://, scp:// sftp.Dial           (host key always verified)
//	s3://           s3.New              (?insecure=true: plain HTTP)
//
// The returned Destination of sftp is an io.Closer; internal/backup closes
// it when done.
func destinationOpener(opts destinationOptions) backup.Opener {
	return func(ctx context.Context, loc *destination.Location, cred destination.Credentials) (destination.Destination, error) {
		switch loc.Scheme {
		case destination.SchemeFile:
			d, err := file.FromLocation(loc)
			if err != nil {
				return nil, err
			}
			return d, nil
		case destination.SchemeSFTP, destination.SchemeSCP:
			d, err := sftp.Dial(ctx, loc, cred, opts.SFTP)
			if err != nil {
				return nil, err
			}
			return d, nil
		case destination.SchemeS3:
			d, err := s3.New(loc, cred, opts.S3)
			if err != nil {
				return nil, err
			}
			return d, nil
		default:
			return nil, fmt.Errorf("%w: no implementation for scheme %q", destination.ErrBadURL, loc.Scheme)
		}
	}
}

// DestinationOpener is the production scheme table, for the commands that
// read store backups without a server (mqsight backup verify).
func DestinationOpener() backup.Opener { return destinationOpener(destinationOptions{}) }
