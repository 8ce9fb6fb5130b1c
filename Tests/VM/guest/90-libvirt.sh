# The guest starts: this host's libvirt daemon and QEMU (shared read-only over 9p, an overlay with a tmpfs upper
# layer on top, entered with chroot) run inside the machine, and the user's whole journey goes through them:
# list, doctor, vbios install, attach to a guest defined in libvirt, virsh start, then QEMU (QMP), the kernel and
# libvirt say what is running; virsh destroy gives everything back; the hooks run by the daemon itself; libvirt's
# node devices agree with list; the host reaches the daemon over qemu+tcp. The answers come from QMP, the kernel,
# libvirt and udev, never from vfioctl's own output.
# checks: 76
. /tests/lib.sh.inc
started=$(cut -d. -f1 /proc/uptime)
# step NAME: a comment line with the seconds since the script started (the host counts only ok/not ok lines).
step() { echo "# [$(( $(cut -d. -f1 /proc/uptime) - started )) s] $*"; }

R=/newroot
# In the host's root, with a clean environment and no controlling terminal (virsh would look for a polkit agent on
# one).
in_root() { chroot "$R" /usr/bin/setsid -w /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 "$@"; }
vf() { in_root /usr/local/sbin/vfioctl "$@"; }
vsh() { in_root timeout 300 virsh -q -c qemu:///system "$@"; }
qmp() { vsh qemu-monitor-command g "{\"execute\":\"$1\"${2:+,\"arguments\":$2}}"; }
# present DESCRIPTION EXPECTED ACTUAL: like same, and not ok when there is nothing to compare.
present() { if [ -z "$2" ]; then not_ok "$1 (nothing to compare)"; else same "$@"; fi; }
# until SECONDS COMMAND...: runs the command until it succeeds, for at most SECONDS (a bounded wait on a condition).
until_true() {
    limit=$(( $(cut -d. -f1 /proc/uptime) + $1 ))
    shift
    until "$@"; do
        [ "$(cut -d. -f1 /proc/uptime)" -ge "$limit" ] && return 1
        sleep 0.2
    done
}

modprobe 9pnet_virtio 2>/dev/null
modprobe 9p 2>/dev/null
modprobe overlay 2>/dev/null
mkdir -p /mnt/host /mnt/rw /mnt/exchange $R
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /mnt/host 2>/tmp/9p.err; then
    skipped "no 9p share of the host's root ($(head -c 200 /tmp/9p.err))"
fi
if [ ! -x /mnt/host/usr/sbin/libvirtd ] || [ ! -x /mnt/host/usr/bin/virsh ] \
    || [ ! -e /mnt/host/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ]; then
    skipped "the host has no libvirt daemon (Debian: apt-get install libvirt-daemon libvirt-daemon-driver-qemu \
libvirt-clients, or scripts/install-deps --test)"
fi
mount -t 9p -o trans=virtio,version=9p2000.L exchange /mnt/exchange
mount -t tmpfs -o mode=755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
if ! mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work $R 2>/tmp/ov.err; then
    skipped "no overlayfs over the 9p share ($(head -c 200 /tmp/ov.err))"
fi
# The guest's kernel filesystems, device nodes and udev database, seen from the host's root.
mount -t proc proc $R/proc
mkdir -p /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount --rbind /sys $R/sys
mount --bind /dev $R/dev
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t hugetlbfs hugetlbfs $R/dev/hugepages
for dir in run tmp; do mount -t tmpfs tmpfs $R/$dir; done
mkdir -p $R/run/udev $R/run/lock $R/var/log/libvirt/qemu $R/var/lib/libvirt/qemu $R/var/cache/libvirt/qemu
mount --bind /run/udev $R/run/udev
# This build of vfioctl, where libvirt's hook may run it from (root's, mode 755).
cp /usr/bin/vfioctl $R/usr/local/sbin/vfioctl
chmod 755 $R/usr/local/sbin/vfioctl
grep -q '^kvm:' $R/etc/group || echo 'kvm:x:990:' >> $R/etc/group
grep -q '^libvirt-qemu:' $R/etc/passwd || echo 'libvirt-qemu:x:64055:990::/var/lib/libvirt:/usr/sbin/nologin' >> $R/etc/passwd
grep -q '^libvirt-qemu:' $R/etc/group || echo 'libvirt-qemu:x:64055:' >> $R/etc/group
# systemd's part for the hooks: this machine has no systemd, so `systemctl set-property --runtime -- SLICE
# AllowedCPUs=LIST` does what systemd does, writing the slice's cgroup cpuset, and no display manager runs.
echo +cpuset > /sys/fs/cgroup/cgroup.subtree_control
for slice in system.slice user.slice init.scope; do mkdir -p /sys/fs/cgroup/$slice; done
cat > $R/usr/local/sbin/systemctl <<'SH'
#!/bin/sh
case $1 in
    set-property) echo "${5#AllowedCPUs=}" > "/sys/fs/cgroup/$4/cpuset.cpus" ;;
    is-active) exit 3 ;;
    *) echo "systemctl stand-in: $*" >&2; exit 1 ;;
esac
SH
chmod 755 $R/usr/local/sbin/systemctl

keyboard=$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)
mouse=$(ls -d /dev/input/by-id/usb-*-event-mouse | head -n1)
mkdir -p $R/etc/libvirt
cat > $R/etc/libvirt/qemu.conf <<CONF
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx",
    "/dev/kvm", "$keyboard", "$mouse" ]
CONF
cat > $R/etc/libvirt/libvirtd.conf <<'CONF'
listen_tls = 0
listen_tcp = 1
tcp_port = "16509"
auth_tcp = "none"
auth_unix_rw = "none"
CONF
start_daemon() {
    in_root libvirtd -d --listen || return 1
    until_true 30 in_root virsh -c qemu:///system version >/dev/null 2>&1
}
stop_daemon() {
    pid=$(cat $R/run/libvirtd.pid 2>/dev/null)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    until_true 30 sh -c "! kill -0 $pid 2>/dev/null"
}
check "libvirtd starts from the host's root and answers on qemu:///system" start_daemon

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
driver_of() { [ -e /sys/bus/pci/devices/$1/driver ] && basename "$(readlink /sys/bus/pci/devices/$1/driver)" || echo none; }
std=$(find_device 0x1234:0x1111)
std_driver=$(driver_of "$std")
hp=/sys/kernel/mm/hugepages/hugepages-2048kB
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }

# --- 1. list, doctor and vbios install, from inside the host's root -----------------------------------------------
step "1. list, doctor and vbios install, from inside the host's root"
vf list --json > /tmp/list.json 2>/tmp/list.err
same "vfioctl list --json exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/list.err)"
same "list finds the second VGA in the group sysfs names" \
    "$(basename "$(readlink /sys/bus/pci/devices/$std/iommu_group)")" \
    "$(jq -r --arg a "$std" '.groups[] | select(.devices | index($a)) | .id' /tmp/list.json)"
vf doctor --json > /tmp/doctor.json 2>/tmp/doctor.err
doctor_status=$?
same "doctor --json writes one report and nothing on stderr" "true|" \
    "$(jq -e 'has("checks")' /tmp/doctor.json 2>/dev/null)|$(cat /tmp/doctor.err)"
same "doctor finds QEMU, the daemon and virsh where the shell does" \
    "ok|$(in_root sh -c 'command -v qemu-system-x86_64; command -v libvirtd; command -v virsh' | paste -sd, | sed 's/,/, /g')" \
    "$(jq -r '.checks[] | select(.id == "libvirt") | "\(.status)|\(.summary)"' /tmp/doctor.json)"
same "doctor reads the qemu.conf written here: the keyboard and mouse are allowed" ok \
    "$(jq -r '.checks[] | select(.id == "evdev-acl") | .status' /tmp/doctor.json)"
fails=$(jq '[.checks[] | select(.status == "fail")] | length' /tmp/doctor.json)
[ "$fails" -gt 0 ] && expected=1 || expected=0
same "doctor exits $expected with $fails failing checks" "$expected" "$doctor_status"
check "vbios dump of the second VGA" vf vbios dump "$std" -o /tmp/std.rom
vf vbios install /tmp/std.rom --for "$std" > /tmp/install.out 2>/tmp/install.err
same "vbios install of it exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/install.err)"
rom=$(ls $R/usr/share/vgabios/1234-1111-*.rom 2>/dev/null | head -n1)
check "the installed ROM is QEMU's ROM byte for byte" cmp "$rom" /expected/vga-1234-1111.rom
rom=${rom#$R}

# --- 2. attach to a guest defined through libvirt, then start it -------------------------------------------------
step "2. attach to a guest defined through libvirt, then start it"
cat > $R/tmp/g.xml <<'XML'
<domain type='qemu'>
  <name>g</name>
  <memory unit='MiB'>64</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
  </devices>
</domain>
XML
check "virsh define g (type qemu)" vsh define /tmp/g.xml
vf attach --domain g --connect qemu:///system --gpu "$std" --looking-glass --scream --evdev auto --hugepages --pin \
    --vcpus 1 > /tmp/attach.out 2>/tmp/attach.err
same "attach --domain g --connect exits 0, stderr only notes" "0|" \
    "$?|$(grep -vE '^(note: |defined |  )' /tmp/attach.err)"
vsh dumpxml --inactive g > /tmp/g-defined.xml
check "libvirt's definition of g has the hostdev of the second VGA" \
    grep -q "<address domain='0x0000' bus='0x$(echo $std | cut -d: -f2)' slot='0x$(echo $std | cut -d: -f3 | cut -d. -f1)' function='0x0'/>" /tmp/g-defined.xml
pages=$(( 64 * 1024 / 2048 ))
echo $pages > $hp/nr_hugepages
free_before=$(meminfo HugePages_Free)
vsh start g > /tmp/start.out 2>/tmp/start.err
same "virsh start g exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/start.err)"

# --- 3. what runs, from QEMU (QMP), the kernel and libvirt's live XML --------------------------------------------
step "3. what runs, from QEMU (QMP), the kernel and libvirt's live XML"
vsh dumpxml g > /tmp/g-live.xml
# The hostdev's guest address: <address type='pci' ... bus='0xBB' slot='0xSS'> after its <source>.
guest_address=$(awk '/<hostdev /{h=1} h && /<\/source>/{s=1} h && s && /<address type=.pci./{print; exit}' /tmp/g-live.xml)
hex_bus=$(echo "$guest_address" | sed -nE "s/.*bus='(0x[0-9a-f]+)'.*/\1/p")
hex_slot=$(echo "$guest_address" | sed -nE "s/.*slot='(0x[0-9a-f]+)'.*/\1/p")
guest_bus=$((${hex_bus:-0}))
guest_slot=$((${hex_slot:-0}))
hostdev_alias=$(awk '/<hostdev /{h=1} h && /<alias name=/{print; exit}' /tmp/g-live.xml | sed -E "s/.*name='([^']+)'.*/\1/")
qtree=$(vsh qemu-monitor-command --hmp g 'info qtree')
# qtree names each device's bus and address; the hostdev sits on libvirt's controller of that index (pci.N).
vfio_block=$(echo "$qtree" | awk -v id="\"$hostdev_alias\"" '$1 == "dev:" && $2 == "vfio-pci," && $4 == id {on = 1; print; next} on && /dev:/ {exit} on {print}')
present "QEMU runs a vfio-pci device for the host's second VGA" "host = \"$std\"" \
    "$(echo "$vfio_block" | grep -oE 'host = "[^"]*"')"
present "its host IDs are the kernel's (1234:1111)" \
    "$(sed 's/0x//' /sys/bus/pci/devices/$std/vendor):$(sed 's/0x//' /sys/bus/pci/devices/$std/device)" \
    "$(echo "$vfio_block" | grep -oE 'pci id [0-9a-f]{4}:[0-9a-f]{4}' | cut -d' ' -f3)"
# libvirt names a controller's bus after the controller's alias.
bus_alias=$(awk -v c="<controller type='pci' index='$guest_bus'" 'index($0, c) {on = 1} on && /<alias /{print; exit}' /tmp/g-live.xml \
    | sed -E "s/.*name='([^']+)'.*/\1/")
present "it sits at the guest address the XML names (the bus of controller $guest_bus, slot $guest_slot)" \
    "$bus_alias $(printf %02x "$guest_slot").0" \
    "$(echo "$qtree" | awk -v id="\"$hostdev_alias\"" '/^ *bus: /{bus = $2} $1 == "dev:" && $4 == id {print bus; exit}') $(echo "$vfio_block" | awk '$1 == "addr" {print $3; exit}')"
same "it loads the installed ROM" "romfile = \"$rom\"" "$(echo "$vfio_block" | grep -oE 'romfile = "[^"]*"')"
rom_size=$(stat -c %s "$R$rom")
bar_size=1
while [ $bar_size -lt "$rom_size" ]; do bar_size=$((bar_size * 2)); done
# "bar 6: mem at ADDR [END]": the ROM BAR; its size is END - ADDR + 1 (also when unmapped at all ones).
rom_bar=$(echo "$vfio_block" | sed -nE 's/.*bar 6: mem at (0x[0-9a-f]+) \[(0x[0-9a-f]+)\].*/\1 \2/p')
same "its ROM BAR is the installed ROM's size rounded up to a power of two ($bar_size)" "$bar_size" \
    "$(python3_in_root() { in_root python3 -c "$@"; }; python3_in_root "import sys; a, e = (int(x, 16) for x in sys.argv[1:]); print((e - a + 1) % 2**64)" $rom_bar)"
# The shared memory devices: their sizes in libvirt's XML are vfioctl's choice; QEMU's BAR 2 is the memory.
for name in looking-glass scream-ivshmem; do
    size_mib=$(awk -v n="<shmem name='$name'>" 'index($0, n) {s = 1} s && /<size /{print; exit}' /tmp/g-live.xml | sed -E 's/.*>([0-9]+)<.*/\1/')
    alias=$(awk -v n="<shmem name='$name'>" 'index($0, n) {s = 1} s && /<alias /{print; exit}' /tmp/g-live.xml | sed -E "s/.*name='([^']+)'.*/\1/")
    bar2=$(echo "$qtree" | awk -v id="\"$alias\"" '$1 == "dev:" && $4 == id {on = 1; next} on && /dev:/ {exit} on && /bar 2:/ {print; exit}' \
        | sed -nE 's/.*at (0x[0-9a-f]+) \[(0x[0-9a-f]+)\].*/\1 \2/p')
    same "QEMU's $name ivshmem BAR 2 is the ${size_mib} MiB in the XML" "$((size_mib * 1024 * 1024))" \
        "$(in_root python3 -c "import sys; a, e = (int(x, 16) for x in sys.argv[1:]); print((e - a + 1) % 2**64)" $bar2)"
done
same "Looking Glass is 32 MiB for 1920x1080 SDR and Scream 2 MiB" "32 2" \
    "$(for n in looking-glass scream-ivshmem; do awk -v n="<shmem name='$n'>" 'index($0, n) {s = 1} s && /<size /{print; exit}' /tmp/g-live.xml | sed -E 's/.*>([0-9]+)<.*/\1/'; done | paste -sd' ')"
# evdev: QOM has the two input-linux objects, QEMU holds udev's by-id nodes open, the kernel refuses a second grab.
same "QEMU has two input-linux objects (QOM /objects)" 2 \
    "$(qmp qom-list '{"path":"/objects"}' | jq '[.return[] | select(.type == "child<input-linux>")] | length')"
qemu_pid=$(cat $R/run/libvirt/qemu/g.pid)
# The kernel names QEMU's files from the reader's root: here, under $R.
held=$(for fd in /proc/$qemu_pid/fd/*; do readlink "$fd"; done | sed -n "s|^$R/dev/input/event|/dev/input/event|p" | sort | paste -sd' ')
present "QEMU holds open the event nodes of udev's by-id keyboard and mouse" \
    "$(printf '%s\n' "$(readlink -f "$keyboard")" "$(readlink -f "$mouse")" | sort | paste -sd' ')" "$held"
grab() { in_root python3 -c '
import errno, fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x40044590, 1)  # EVIOCGRAB
except OSError as e:
    print(errno.errorcode[e.errno]); sys.exit(1)
print("grabbed")' "$1"; }
same "the keyboard is grabbed: a second EVIOCGRAB fails with EBUSY" EBUSY "$(grab "$keyboard")"
same "the mouse is grabbed: a second EVIOCGRAB fails with EBUSY" EBUSY "$(grab "$mouse")"
# Pinning: the kernel's affinity of QEMU's vCPU threads (from QMP) and of the process is what the XML pins.
vcpu_pins=$(sed -nE "s/.*<vcpupin vcpu='([0-9]+)' cpuset='([^']+)'.*/\1:\2/p" /tmp/g-live.xml | paste -sd' ')
emulator_pin=$(sed -nE "s/.*<emulatorpin cpuset='([^']+)'.*/\1/p" /tmp/g-live.xml)
affinity=$(qmp query-cpus-fast | jq -r '.return[] | "\(.["cpu-index"]) \(.["thread-id"])"' | while read -r cpu tid; do
    echo "$cpu:$(awk '$1 == "Cpus_allowed_list:" {print $2}' /proc/$qemu_pid/task/$tid/status)"; done | paste -sd' ')
present "each vCPU thread runs only on the CPUs its <vcpupin> names" "$vcpu_pins" "$affinity"
present "QEMU's main thread runs on the <emulatorpin> CPUs" "$emulator_pin" \
    "$(awk '$1 == "Cpus_allowed_list:" {print $2}' /proc/$qemu_pid/status)"
same "guest memory is on hugepages: HugePages_Free dropped by the guest's $pages pages" "$pages" \
    "$((free_before - $(meminfo HugePages_Free)))"
check "QEMU maps its RAM from hugetlbfs" grep -q '/dev/hugepages/libvirt/qemu/' /proc/$qemu_pid/maps

# --- 7. the daemon from outside the machine: the host runs vfioctl domains over qemu+tcp --------------------------
step "7. the daemon from outside the machine: the host runs vfioctl domains over qemu+tcp"
eth=$(basename "$(ls -d /sys/bus/pci/devices/$(find_device 0x8086:0x10d3)/net/* | head -n1)")
ip link set lo up
ip link set "$eth" up
ip addr add 10.0.2.15/24 dev "$eth"
rm -f /mnt/exchange/domains.*
echo domains > /mnt/exchange/request.tmp && mv /mnt/exchange/request.tmp /mnt/exchange/domains.request
if until_true 120 test -e /mnt/exchange/domains.status; then
    same "the host's vfioctl domains --connect qemu+tcp://127.0.0.1:PORT/system exits 0, nothing on stderr" \
        "0|" "$(cat /mnt/exchange/domains.status)|$(cat /mnt/exchange/domains.err)"
    same "it lists the daemon's guests, g running, as virsh here does" \
        "$(vsh list --all --name | grep . | sort | paste -sd' ') running" \
        "$(jq -r '[.domains[].name] | sort | join(" ")' /mnt/exchange/domains.out) $(jq -r '.domains[] | select(.name == "g") | if .isActive then "running" else "shut off" end' /mnt/exchange/domains.out)"
    same "it sees the hostdev libvirt has for g" "$std" \
        "$(jq -r '.domains[] | select(.name == "g") | .hostdevs | join(" ")' /mnt/exchange/domains.out)"
else
    not_ok "the host answered the domains request within 120 s"
    not_ok "it lists the daemon's guests (no answer)"
    not_ok "it sees the hostdev libvirt has for g (no answer)"
fi

# --- 4. virsh destroy gives everything back -------------------------------------------------------------------------
step "4. virsh destroy gives everything back"
vsh destroy g > /tmp/destroy.out 2>/tmp/destroy.err
same "virsh destroy g exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/destroy.err)"
same "the second VGA is back on its driver ($std_driver)" "$std_driver" "$(driver_of "$std")"
same "the hugepages are free again" "$free_before" "$(meminfo HugePages_Free)"
same "the keyboard and mouse can be grabbed again" "grabbed grabbed" "$(grab "$keyboard") $(grab "$mouse")"
echo 0 > $hp/nr_hugepages

# --- 8. doctor --domain says before virsh start what the start then does; an override reaches the guest ------------
step "8. doctor --domain says before virsh start what the start then does; an override reaches the guest"
# No hugepages are reserved now: g's do not fit.
vf doctor --domain g --json > /tmp/gd.json 2>/tmp/gd.err
gd_status=$?
echo "# doctor --domain g, no pages: $(jq -c '[.checks[] | select(.status != "ok") | [.id, .status, .message]]' /tmp/gd.json)"
same "doctor --domain g --json: one object whose checks are {id, status, device, message, fix}; nothing on stderr" \
    "true|" "$(jq -e '[.checks[] | keys == ["device", "fix", "id", "message", "status"]] | all' /tmp/gd.json)|$(cat /tmp/gd.err)"
same "with no hugepages reserved, doctor --domain g says hugepages FAIL and exits 1" "fail|1" \
    "$(jq -r '.checks[] | select(.id == "hugepages") | .status' /tmp/gd.json)|$gd_status"
vsh start g > /tmp/start.out 2>/tmp/start.err
same "virsh start g then fails, as doctor said" 1 "$?"
echo $pages > $hp/nr_hugepages
vf doctor --domain g --json > /tmp/gd.json 2>/tmp/gd.err
gd_status=$?
echo "# doctor --domain g, $pages pages: $(jq -c '[.checks[] | select(.status != "ok") | [.id, .status, .message]]' /tmp/gd.json)"
same "with $pages pages reserved, doctor --domain g finds nothing failing and exits 0" "0|0" \
    "$(jq '[.checks[] | select(.status == "fail")] | length' /tmp/gd.json)|$gd_status"
# A guest with the second VGA and a ROM file that is not there.
sed -e 's|<name>g</name>|<name>badrom</name>|' -e '/<uuid>/d' \
    -e "s|file='/usr/share/vgabios/[^']*'|file='/usr/share/vgabios/missing.rom'|" /tmp/g-defined.xml > $R/tmp/badrom.xml
check "virsh define badrom (g with a ROM file that is not there)" vsh define /tmp/badrom.xml
vf doctor --domain badrom --json > /tmp/gd.json 2>/tmp/gd.err
gd_status=$?
same "doctor --domain badrom: rom FAIL naming the missing file, exit 1" "fail|true|1" \
    "$(jq -r '[.checks[] | select(.id == "rom")][0].status' /tmp/gd.json)|$(jq -r '[.checks[] | select(.id == "rom")][0].message | contains("missing.rom'"'"'> does not exist")' /tmp/gd.json)|$gd_status"
vsh start badrom > /tmp/start.out 2>/tmp/start.err
same "virsh start badrom then fails, as doctor said" 1 "$?"
echo "# virsh start badrom: $(head -c 300 /tmp/start.err)"
vsh undefine badrom > /dev/null 2>&1
# The healthy guest starts, with an override of the VGA's subsystem vendor.
vf attach --domain g --connect qemu:///system --override "$std:x-pci-sub-vendor-id=0x1025" > /tmp/ov.out 2>/tmp/ov.err
same "attach --domain g --override STD:x-pci-sub-vendor-id=0x1025 exits 0 (libvirt's version read through the connection)" \
    "0|" "$?|$(grep -vE '^(note: |defined |  )' /tmp/ov.err)"
vsh start g > /tmp/start.out 2>/tmp/start.err
same "virsh start g (healthy, with the override) exits 0, as doctor said" "0|" "$?|$(cat /tmp/start.err)"
override_alias=ua-vfioctl-$(echo "$std" | tr ':.' '--')
same "QEMU's query-pci shows the passed VGA with the overridden subsystem vendor (0x1025 = 4133)" 4133 \
    "$(qmp query-pci | jq --arg a "$override_alias" '[.. | objects | select(.qdev_id? == $a) | .id["subsystem-vendor"]] | first')"
vsh destroy g > /dev/null 2>&1
vf detach --domain g --connect qemu:///system --override "$std" > /dev/null 2>/tmp/ov.err
vsh dumpxml --inactive g > /tmp/g-after.xml
diff /tmp/g-defined.xml /tmp/g-after.xml | head -n 20 | sed 's/^/# diff: /'
# libvirt may list its controllers in another order after a define: the lines are compared, not their order.
sort /tmp/g-defined.xml > /tmp/g-defined.sorted
sort /tmp/g-after.xml > /tmp/g-after.sorted
check "detach --override STD gives libvirt's definition of g back, line for line, as before the override" \
    cmp /tmp/g-defined.sorted /tmp/g-after.sorted
echo 0 > $hp/nr_hugepages

# --- 5. hooks: the daemon runs hooks/qemu with the guest's definition; a prepare that fails refuses the start -------
step "5. hooks: the daemon runs hooks/qemu with the guest's definition; a prepare that fails refuses the start"
sed -e 's|<name>g</name>|<name>big</name>|' -e '/<uuid>/d' -e "s|<memory unit='KiB'>[0-9]*</memory>|<memory unit='GiB'>4</memory>|" \
    -e "s|<currentMemory unit='KiB'>[0-9]*</currentMemory>|<currentMemory unit='GiB'>4</currentMemory>|" \
    /tmp/g-defined.xml > $R/tmp/big.xml
check "virsh define big (g with 4 GiB, more hugepages than this machine has)" vsh define /tmp/big.xml
vf hooks install g --hugepages --isolate-cpus > /tmp/hooks.out 2>/tmp/hooks.err
same "hooks install g --hugepages --isolate-cpus exits 0; stderr names what it wrote and notes" "0|0" \
    "$?|$(grep -cvE '^(wrote |note: )' /tmp/hooks.err)"
vf hooks install big --hugepages --isolate-cpus > /tmp/hooks.out 2>/tmp/hooks.err
same "hooks install big exits 0" "0|0" "$?|$(grep -cvE '^(wrote |note: )' /tmp/hooks.err)"
# libvirt looks for hook scripts when it starts.
restart_daemon() { stop_daemon && start_daemon; }
check "libvirtd restarts (it looks for hook scripts when it starts)" restart_daemon
slices() { for slice in system.slice user.slice init.scope; do cat /sys/fs/cgroup/$slice/cpuset.cpus.effective; done | paste -sd' '; }
online=$(cat /sys/devices/system/cpu/online)
slices_before=$(slices)
nr_before=$(cat $hp/nr_hugepages)
guest_cpus=$(sed -nE "s/.*<vcpupin vcpu='[0-9]+' cpuset='([^']+)'.*/\1/p" /tmp/g-live.xml | paste -sd,)
# The CPUs the guest is not pinned to, written as the kernel writes a cpuset (ranges).
host_cpus=$(in_root python3 -c "import sys
def parse(t): return {c for p in t.split(',') if p for c in range(int(p.split('-')[0]), int(p.split('-')[-1]) + 1)}
cpus, ranges = sorted(parse(sys.argv[1]) - parse(sys.argv[2])), []
for c in cpus:
    if ranges and ranges[-1][1] == c - 1: ranges[-1][1] = c
    else: ranges.append([c, c])
print(','.join(str(a) if a == b else f'{a}-{b}' for a, b in ranges))" "$online" "$guest_cpus")
vsh start g > /tmp/start.out 2>/tmp/start.err
same "virsh start g with the hook exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/start.err)"
present "while g runs, the daemon's prepare hook has reserved its $pages pages" "$((nr_before + pages))" "$(cat $hp/nr_hugepages)"
same "and the host slices run only on CPUs g is not pinned to ($host_cpus)" "$host_cpus $host_cpus $host_cpus" "$(slices)"
vsh destroy g > /tmp/destroy.out 2>/tmp/destroy.err
same "virsh destroy g exits 0" "0|" "$?|$(cat /tmp/destroy.err)"
same "after the release hook the pages are given back" "$nr_before" "$(cat $hp/nr_hugepages)"
same "and the host slices have every CPU again" "$slices_before" "$(slices)"
same "and the second VGA is back on $std_driver" "$std_driver" "$(driver_of "$std")"
vsh start big > /tmp/big.out 2>/tmp/big.err
same "virsh start big fails: its prepare hook cannot reserve 4 GiB" 1 "$?"
check "libvirt's error carries the hook's reason" grep -q "could reserve only" /tmp/big.err
same "nothing stays changed: hugepages, host slices, the second VGA's driver" \
    "$nr_before|$slices_before|$std_driver" "$(cat $hp/nr_hugepages)|$(slices)|$(driver_of "$std")"
same "big is not running" "shut off" "$(vsh domstate big)"

# --- 6. libvirt's node devices agree with vfioctl list (oracle: libvirt and sysfs) --------------------------------
step "6. libvirt's node devices agree with vfioctl list (oracle: libvirt and sysfs)"
vf list --json > /tmp/list.json 2>/tmp/list.err
same "list --json exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/list.err)"
# One virsh run for every device's XML (virsh runs slowly here): "@@NAME" before each (virsh's echo ends without a
# newline, so the XML's first line follows on the same line).
names=$(vsh nodedev-list --cap pci)
vsh "$(for name in $names; do printf 'echo @@%s; nodedev-dumpxml %s; ' "$name" "$name"; done)" > /tmp/nodedevs.xml
libvirt_view=$(awk -F"'" '
    function flush() { if (name != "") print name, (driver == "" ? "none" : driver), group }
    /^@@pci_/ { flush(); match($0, /^@@pci_[0-9a-f_]+/); name = substr($0, 7, RLENGTH - 6)
                gsub(/_/, ":", name); sub(/:[0-9a-f]+$/, ".&", name); sub(/\.:/, ".", name)
                driver = ""; group = ""; in_driver = 0 }
    /<driver>/ { in_driver = 1 }
    in_driver && /<name>/ { driver = $0; gsub(/.*<name>|<\/name>.*/, "", driver); in_driver = 0 }
    /<iommuGroup number=/ { group = $2 }
    END { flush() }' /tmp/nodedevs.xml)
sysfs_view=""
for dir in /sys/bus/pci/devices/*; do
    sysfs_view="$sysfs_view${dir##*/} $(driver_of "${dir##*/}") $(basename "$(readlink "$dir/iommu_group")")
"
done
same "libvirt's node devices are the kernel's PCI functions, groups and drivers" \
    "$(echo "$sysfs_view" | grep . | sort)" "$(echo "$libvirt_view" | grep . | sort)"
same "vfioctl list gives every function libvirt's group and driver" "$(echo "$libvirt_view" | grep . | sort)" \
    "$(jq -r '.devices[] | "\(.address) \(.driver // "none") \(.iommuGroup)"' /tmp/list.json | sort)"
same "and every group's members are the ones libvirt lists in <iommuGroup>" \
    "$(awk -F"'" '/<iommuGroup number=/ {g = $2; on = 1; next} on && /<\/iommuGroup>/ {on = 0}
        on && /<address/ {printf "%s %s:%s:%s.%s\n", g, substr($2, 3), substr($4, 3), substr($6, 3), substr($8, 3)}' \
        /tmp/nodedevs.xml | sort -u | paste -sd' ')" \
    "$(jq -r '.groups[] | .id as $g | .devices[] | "\($g) \(.)"' /tmp/list.json | sort -u | paste -sd' ')"
# --- 8. an SR-IOV virtual function passed like any function (oracle: QEMU's qtree and the kernel) -------------------
step "9. an SR-IOV virtual function passed like any function"
pf=$(for d in /sys/bus/pci/devices/*; do [ -e "$d/sriov_totalvfs" ] && [ "$(cat $d/device)" = 0x0010 ] && echo ${d##*/}; done | head -n1)
check "sriov --vfs 1 on the NVMe controller" vf sriov "$pf" --vfs 1
vf0=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn0 2>/dev/null)" 2>/dev/null)
sed -e 's|<name>g</name>|<name>v</name>|' $R/tmp/g.xml > $R/tmp/v.xml
check "virsh define v" vsh define /tmp/v.xml
vf attach --domain v --connect qemu:///system --hostdev "$vf0" > /tmp/vattach.out 2>/tmp/vattach.err
same "attach --domain v --hostdev VF exits 0, stderr only notes" "0|" \
    "$?|$(grep -vE '^(note: |defined |  )' /tmp/vattach.err)"
vsh start v > /tmp/vstart.out 2>/tmp/vstart.err
same "virsh start v exits 0 with nothing on stderr" "0|" "$?|$(cat /tmp/vstart.err)"
present "QEMU runs a vfio-pci device for the VF" "host = \"$vf0\"" \
    "$(vsh qemu-monitor-command --hmp v 'info qtree' | grep -oE "host = \"$vf0\"" | head -n1)"
same "the VF is on vfio-pci while v runs" vfio-pci "$(driver_of "$vf0")"
vf sriov "$pf" --vfs 0 > /dev/null 2> /tmp/vrefused.err
same "sriov --vfs 0 is refused while v has the VF (exit 75, one line)" "75 1" "$? $(wc -l < /tmp/vrefused.err)"
vsh destroy v > /dev/null 2>&1
same "after virsh destroy v libvirt gives the VF back to no driver (autoprobe is off)" none "$(driver_of "$vf0")"
check "sriov --vfs 0 once v is stopped" vf sriov "$pf" --vfs 0
stop_daemon
echo "# 90-libvirt.sh took $(( $(cut -d. -f1 /proc/uptime) - started )) s"
