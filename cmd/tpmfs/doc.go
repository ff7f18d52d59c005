// Command tpmfs is the program around the mount: it parses the command
// line, sets up logging, daemonises, turns SIGINT/SIGTERM into a clean
// unmount and tells systemd and the waiting parent when the mount is
// ready; it holds no TPM or filesystem logic (serve mounts).
package main
