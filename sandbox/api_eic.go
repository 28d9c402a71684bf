package sandbox

// Owned by the SSH hosts work: EC2 Instance Connect SendSSHPublicKey.
func (a *apiServer) registerEICAPI() {}
