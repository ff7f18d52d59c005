package vault

import (
	"cmp"
	"fmt"
	"slices"
)

// usageLocked is what uid keeps: objects and their secrets' bytes. v.mu
// held.
func (v *Vault) usageLocked(uid uint32) (objects int, bytes int64) {
	for _, e := range v.index {
		if e.id != "" && e.uid == uid {
			objects++
			bytes += e.size
		}
	}
	return objects, bytes
}

// checkObjects refuses a new object past the owner's quota.
func (v *Vault) checkObjects(c Caller) error {
	q := v.opts.Quota
	if q == nil || !c.limited() {
		return nil
	}
	v.mu.Lock()
	n, _ := v.usageLocked(c.UID)
	v.mu.Unlock()
	if n+1 > q.Objects {
		return fmt.Errorf("%w: uid %d keeps %d objects, seal_quota= allows %d", ErrQuota, c.UID, n, q.Objects)
	}
	return nil
}

// checkBytes refuses a secret of size bytes for object name past its
// owner's byte quota (counting the owner's other objects).
func (v *Vault) checkBytes(name string, size int64) error {
	q := v.opts.Quota
	if q == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.index[name]
	if e == nil || e.uid == 0 {
		return nil
	}
	_, used := v.usageLocked(e.uid)
	if used-e.size+size > q.Bytes {
		return fmt.Errorf("%w: uid %d would keep %d bytes of secrets, seal_quota= allows %d", ErrQuota, e.uid, used-e.size+size, q.Bytes)
	}
	return nil
}

// charge counts delta more bytes held unsaved by c's writers; past the
// byte quota it refuses and counts nothing. A user cannot make the daemon
// hold more than their quota in buffers, however many files they open.
func (v *Vault) charge(c Caller, delta int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	q := v.opts.Quota
	if delta > 0 && q != nil && c.limited() && v.pending[c.UID]+delta > q.Bytes {
		return fmt.Errorf("%w: uid %d holds %d unsaved bytes in open files, seal_quota= allows %d", ErrQuota, c.UID, v.pending[c.UID], q.Bytes)
	}
	v.pending[c.UID] += delta
	if v.pending[c.UID] == 0 {
		delete(v.pending, c.UID)
	}
	return nil
}

// Usage is what one user keeps.
type Usage struct {
	UID     uint32
	Objects int
	Bytes   int64
}

// Usage lists, by uid, the objects each user keeps and their secrets'
// bytes, as the quotas count them (damaged objects count for nobody).
func (v *Vault) Usage() []Usage {
	v.mu.Lock()
	defer v.mu.Unlock()
	by := map[uint32]*Usage{}
	for _, e := range v.index {
		if e.id == "" {
			continue
		}
		u := by[e.uid]
		if u == nil {
			u = &Usage{UID: e.uid}
			by[e.uid] = u
		}
		u.Objects++
		u.Bytes += e.size
	}
	out := make([]Usage, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b Usage) int { return cmp.Compare(a.UID, b.UID) })
	return out
}
