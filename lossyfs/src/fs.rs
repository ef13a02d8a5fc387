//! The FUSE passthrough: every operation is done on the backing directory
//! at once, and every change is told to the [`Journal`] first.
//!
//! Nothing else differs from the backing filesystem: reads, attributes and
//! directory listings pass straight through, and an fsync is a real fsync
//! (it also tells the journal the file is durable). File locks are left to
//! the kernel, which keeps them locally when a filesystem has none.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use crate::journal::Journal;

/// How long the kernel may cache names and attributes. Every change comes
/// through us, so the cache is never stale while we are mounted.
const TTL: Duration = Duration::from_secs(1);

/// The folder in the backing root that keeps files replaced by unsynced
/// renames; hidden from the mounted view.
pub const STASH: &str = ".lossyfs-stash";

const ROOT_INO: u64 = 1;

/// What the filesystem and its control socket share.
#[derive(Debug)]
pub struct State {
    pub journal: Journal,
    /// Once a power failure has been simulated, every operation fails:
    /// the machine is off.
    pub off: bool,
    /// The disk is full: whatever needs new space fails with ENOSPC (a
    /// write past a file's end, a new file, a grown length); overwrites
    /// in place still succeed, as on a real full disk.
    pub full: bool,
    paths: HashMap<u64, PathBuf>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    next_stash: u64,
    root_backing_ino: u64,
}

#[derive(Debug)]
struct Handle {
    file: File,
    ino: u64,
}

pub type Shared = Arc<Mutex<State>>;

/// Locks the shared state; a panic while it was held poisons nothing we
/// rely on (the journal is only ever appended to or drained).
pub fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    pub fn new(root: &Path) -> io::Result<State> {
        let meta = std::fs::metadata(root)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!("{} is not a directory", root.display())));
        }
        std::fs::create_dir_all(root.join(STASH))?;
        Ok(State {
            journal: Journal::new(root),
            off: false,
            full: false,
            paths: HashMap::from([(ROOT_INO, root.to_path_buf())]),
            handles: HashMap::new(),
            next_fh: 1,
            next_stash: 0,
            root_backing_ino: meta.ino(),
        })
    }

    /// The backing root.
    pub fn root(&self) -> &Path {
        &self.paths[&ROOT_INO]
    }

    /// Our inode number for a backing inode: the root is 1, so a backing
    /// inode that happens to be 1 takes the root's number.
    fn ino_of(&self, backing: u64) -> u64 {
        if backing == self.root_backing_ino {
            ROOT_INO
        } else if backing == ROOT_INO {
            self.root_backing_ino
        } else {
            backing
        }
    }

    fn path(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths.get(&ino).cloned().ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        if parent == ROOT_INO && name == STASH {
            return Err(libc::ENOENT);
        }
        Ok(self.path(parent)?.join(name))
    }

    /// Stats `path`, remembers it under its inode number, and returns its
    /// attributes.
    fn remember(&mut self, path: PathBuf) -> Result<FileAttr, i32> {
        let meta = std::fs::symlink_metadata(&path).map_err(errno)?;
        let attr = attr(self.ino_of(meta.ino()), &meta);
        self.paths.insert(attr.ino, path);
        Ok(attr)
    }

    fn handle(&self, fh: u64) -> Result<&Handle, i32> {
        self.handles.get(&fh).ok_or(libc::EBADF)
    }

    /// ENOSPC when the disk is full.
    fn space(&self) -> Result<(), i32> {
        if self.full {
            Err(libc::ENOSPC)
        } else {
            Ok(())
        }
    }

    fn add_handle(&mut self, file: File, ino: u64) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle { file, ino });
        fh
    }

    /// After a rename, the paths under `from` are under `to`.
    fn moved(&mut self, from: &Path, to: &Path) {
        for p in self.paths.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) };
            }
        }
    }
}

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH
    }
}

fn attr(ino: u64, m: &std::fs::Metadata) -> FileAttr {
    let kind = match m.mode() & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    };
    FileAttr {
        ino,
        size: m.size(),
        blocks: m.blocks(),
        atime: time(m.atime(), m.atime_nsec()),
        mtime: time(m.mtime(), m.mtime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind,
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: m.blksize() as u32,
        flags: 0,
    }
}

/// Opens a backing file with the access mode of `flags`, except that a
/// file opened for writing is opened for reading too: the journal reads
/// what a write through the handle replaces. Creation, truncation and appending are the
/// kernel's business (it sends them as their own requests, or as
/// offsets).
fn open_backing(path: &Path, flags: i32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY | libc::O_RDWR => o.read(true).write(true),
        _ => o.read(true),
    };
    o.custom_flags(flags & libc::O_CLOEXEC).open(path)
}

/// The filesystem served over FUSE.
pub struct LossyFs {
    state: Shared,
}

impl LossyFs {
    pub fn new(state: Shared) -> LossyFs {
        LossyFs { state }
    }

    /// The state, or EIO once the power is off.
    fn on(&self) -> Result<MutexGuard<'_, State>, i32> {
        let s = lock(&self.state);
        if s.off {
            Err(libc::EIO)
        } else {
            Ok(s)
        }
    }
}

impl LossyFs {
    /// Unlink and rmdir: removed at once, never journaled (a power failure
    /// does not bring a deleted file back), and forgotten by path.
    fn remove(&self, parent: u64, name: &OsStr, remove: fn(&Path) -> io::Result<()>, reply: ReplyEmpty) {
        let r = (|| {
            let mut s = self.on()?;
            let p = s.child(parent, name)?;
            remove(&p).map_err(errno)?;
            s.paths.retain(|_, q| *q != p);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// Runs `f` on the state and sends its result, or its errno.
macro_rules! reply_with {
    ($self:ident, $reply:ident, |$s:ident| $body:expr, |$v:ident| $ok:expr) => {{
        let r: Result<_, i32> = (|| {
            #[allow(unused_mut)]
            let mut $s = $self.on()?;
            $body
        })();
        match r {
            Ok($v) => $ok,
            Err(e) => $reply.error(e),
        }
    }};
}

impl Filesystem for LossyFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        reply_with!(
            self,
            reply,
            |s| {
                let p = s.child(parent, name)?;
                s.remember(p)
            },
            |a| reply.entry(&TTL, &a, 0)
        )
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, fh: Option<u64>, reply: ReplyAttr) {
        reply_with!(
            self,
            reply,
            |s| {
                let meta = match fh.and_then(|fh| s.handles.get(&fh)) {
                    Some(h) => h.file.metadata().map_err(errno)?,
                    None => std::fs::symlink_metadata(s.path(ino)?).map_err(errno)?,
                };
                Ok(attr(ino, &meta))
            },
            |a| reply.attr(&TTL, &a)
        )
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                let path = s.path(ino)?;
                if let Some(mode) = mode {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777)).map_err(errno)?;
                }
                if let Some(size) = size {
                    let file = match fh.and_then(|fh| s.handles.get(&fh)) {
                        Some(h) => h.file.try_clone().map_err(errno)?,
                        // Read too: the journal keeps what the cut removes.
                        None => OpenOptions::new().read(true).write(true).open(&path).map_err(errno)?,
                    };
                    if size > file.metadata().map_err(errno)?.len() {
                        s.space()?;
                    }
                    s.journal.before_set_len(ino, &file, &path, size).map_err(errno)?;
                    file.set_len(size).map_err(errno)?;
                }
                if let Some(t) = mtime {
                    let t = match t {
                        TimeOrNow::Now => SystemTime::now(),
                        TimeOrNow::SpecificTime(t) => t,
                    };
                    File::open(&path).and_then(|f| f.set_modified(t)).map_err(errno)?;
                }
                let meta = std::fs::symlink_metadata(&path).map_err(errno)?;
                Ok(attr(ino, &meta))
            },
            |a| reply.attr(&TTL, &a)
        )
    }

    fn mkdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        reply_with!(
            self,
            reply,
            |s| {
                let p = s.child(parent, name)?;
                s.space()?;
                std::fs::create_dir(&p).map_err(errno)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & !umask & 0o7777)).map_err(errno)?;
                s.journal.created(parent, &p, true);
                s.remember(p)
            },
            |a| reply.entry(&TTL, &a, 0)
        )
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |p| std::fs::remove_file(p), reply)
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |p| std::fs::remove_dir(p), reply)
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                if flags != 0 {
                    return Err(libc::EINVAL);
                }
                let from = s.child(parent, name)?;
                let to = s.child(newparent, newname)?;
                // Keep the file the rename replaces, so a power failure
                // before the directory is synced can bring it back.
                let stash = match std::fs::symlink_metadata(&to) {
                    Ok(m) if m.is_file() => {
                        let stash = s.root().join(STASH).join(s.next_stash.to_string());
                        s.next_stash += 1;
                        std::fs::hard_link(&to, &stash).map_err(errno)?;
                        Some(stash)
                    }
                    _ => None,
                };
                if let Err(e) = std::fs::rename(&from, &to) {
                    if let Some(st) = &stash {
                        let _ = std::fs::remove_file(st);
                    }
                    return Err(errno(e));
                }
                s.paths.retain(|_, q| *q != to);
                s.moved(&from, &to);
                s.journal.renamed(newparent, &from, &to, stash);
                Ok(())
            },
            |_v| reply.ok()
        )
    }

    fn link(&mut self, _req: &Request<'_>, ino: u64, newparent: u64, newname: &OsStr, reply: ReplyEntry) {
        reply_with!(
            self,
            reply,
            |s| {
                let from = s.path(ino)?;
                let to = s.child(newparent, newname)?;
                s.space()?;
                std::fs::hard_link(&from, &to).map_err(errno)?;
                s.journal.created(newparent, &to, false);
                let meta = std::fs::symlink_metadata(&to).map_err(errno)?;
                Ok(attr(ino, &meta))
            },
            |a| reply.entry(&TTL, &a, 0)
        )
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        reply_with!(
            self,
            reply,
            |s| {
                let file = open_backing(&s.path(ino)?, flags).map_err(errno)?;
                Ok(s.add_handle(file, ino))
            },
            |fh| reply.opened(fh, 0)
        )
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                let h = s.handle(fh)?;
                let mut buf = vec![0; size as usize];
                let mut got = 0;
                while got < buf.len() {
                    match h.file.read_at(&mut buf[got..], offset as u64 + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(errno(e)),
                    }
                }
                buf.truncate(got);
                Ok(buf)
            },
            |b| reply.data(&b)
        )
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                let h = s.handle(fh)?;
                let (file, ino) = (h.file.try_clone().map_err(errno)?, h.ino);
                let path = s.path(ino)?;
                if s.full && offset as u64 + data.len() as u64 > file.metadata().map_err(errno)?.len() {
                    return Err(libc::ENOSPC);
                }
                s.journal.before_write(ino, &file, &path, offset as u64, data.len() as u64).map_err(errno)?;
                file.write_all_at(data, offset as u64).map_err(errno)?;
                Ok(data.len() as u32)
            },
            |n| reply.written(n)
        )
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        reply.ok()
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.state).handles.remove(&fh);
        reply.ok()
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, datasync: bool, reply: ReplyEmpty) {
        reply_with!(
            self,
            reply,
            |s| {
                let h = s.handle(fh)?;
                if datasync { h.file.sync_data() } else { h.file.sync_all() }.map_err(errno)?;
                s.journal.file_synced(ino);
                Ok(())
            },
            |_v| reply.ok()
        )
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let listed = (|| {
            let s = self.on()?;
            let path = s.path(ino)?;
            let mut entries = vec![(ino, FileType::Directory, ".".into()), (ino, FileType::Directory, "..".into())];
            for e in std::fs::read_dir(&path).map_err(errno)? {
                let e = e.map_err(errno)?;
                if ino == ROOT_INO && e.file_name() == STASH {
                    continue;
                }
                let meta = e.metadata().map_err(errno)?;
                let a = attr(s.ino_of(meta.ino()), &meta);
                entries.push((a.ino, a.kind, e.file_name()));
            }
            Ok::<_, i32>(entries)
        })();
        match listed {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(ino, (i + 1) as i64, kind, name) {
                        break;
                    }
                }
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _datasync: bool, reply: ReplyEmpty) {
        reply_with!(
            self,
            reply,
            |s| {
                File::open(s.path(ino)?).and_then(|d| d.sync_all()).map_err(errno)?;
                for stash in s.journal.dir_synced(ino) {
                    let _ = std::fs::remove_file(stash);
                }
                Ok(())
            },
            |_v| reply.ok()
        )
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        reply_with!(
            self,
            reply,
            |s| {
                let root = std::ffi::CString::new(s.root().as_os_str().as_encoded_bytes()).map_err(|_| libc::EINVAL)?;
                let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
                // SAFETY: `root` is a valid C string and `st` a valid out-pointer.
                if unsafe { libc::statvfs(root.as_ptr(), &mut st) } != 0 {
                    return Err(errno(io::Error::last_os_error()));
                }
                if s.full {
                    (st.f_bfree, st.f_bavail) = (0, 0);
                }
                Ok(st)
            },
            |st| reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32
            )
        )
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok()
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                let p = s.child(parent, name)?;
                let existed = std::fs::symlink_metadata(&p).is_ok();
                if !existed {
                    s.space()?;
                }
                let mut o = OpenOptions::new();
                o.read(true).write(true).create(true).mode(mode & !umask & 0o7777);
                if flags & libc::O_EXCL != 0 {
                    o.create_new(true);
                }
                let file = o.open(&p).map_err(errno)?;
                let a = s.remember(p.clone())?;
                if existed {
                    if flags & libc::O_TRUNC != 0 {
                        s.journal.before_set_len(a.ino, &file, &p, 0).map_err(errno)?;
                        file.set_len(0).map_err(errno)?;
                    }
                } else {
                    s.journal.created(parent, &p, false);
                }
                let fh = s.add_handle(file, a.ino);
                let meta = std::fs::symlink_metadata(&p).map_err(errno)?;
                Ok((attr(a.ino, &meta), fh))
            },
            |v| reply.created(&TTL, &v.0, 0, v.1, 0)
        )
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        reply_with!(
            self,
            reply,
            |s| {
                // Plain preallocation only: it changes no byte, and at most
                // the length (which the journal records).
                if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
                    return Err(libc::EOPNOTSUPP);
                }
                s.space()?;
                let h = s.handle(fh)?;
                let file = h.file.try_clone().map_err(errno)?;
                if mode & libc::FALLOC_FL_KEEP_SIZE == 0 {
                    let end = (offset + length) as u64;
                    let len = file.metadata().map_err(errno)?.len();
                    if end > len {
                        let path = s.path(ino)?;
                        s.journal.before_set_len(ino, &file, &path, end).map_err(errno)?;
                    }
                }
                // SAFETY: the descriptor is open for as long as `file` lives.
                if unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, length) } != 0 {
                    return Err(errno(io::Error::last_os_error()));
                }
                Ok(())
            },
            |_v| reply.ok()
        )
    }
}
