# `vfioctl doctor` tells the truth about a real kernel: each check's status is worked out here from the kernel's
# own files and compared; the checks follow real changes (hugepages reserved, a GPU bound, a ROM installed, a
# qemu.conf ACL written) and go back when they are undone. The exit status is worked out from the kernel too, and
# every run's status and stderr are checked; the text screen is judged against the kernel, never against the JSON.
# checks: 32
. /tests/lib.sh.inc

find_device() { for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && echo ${d##*/}; done | head -n1; }
std=$(find_device 0x1234:0x1111)
ati=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1002 ] && echo ${d##*/}; done | head -n1)
json=/tmp/doctor.json

doctor() {  # runs doctor --json into $json; each run's exit status and stderr go to /tmp/doctor.runs
    vfioctl doctor --json > "$json" 2>/tmp/doctor.err
    echo "$?|$(cat /tmp/doctor.err | tr '\n' ' ')" >> /tmp/doctor.runs
}
: > /tmp/doctor.runs
status_of() { jq -r --arg id "$1" '.checks[] | select(.id == $id) | .status' "$json"; }
summary_of() { jq -r --arg id "$1" '.checks[] | select(.id == $id) | .summary' "$json"; }

doctor
same "doctor --json writes one JSON document" true "$(jq -e 'has("checks")' "$json" 2>/dev/null)"

# IOMMU and interrupt remapping, from the kernel's own view.
[ -n "$(ls /sys/kernel/iommu_groups)" ] && expected=ok || expected=fail
iommu_expected=$expected
same "iommu is $expected like /sys/kernel/iommu_groups" "$expected" "$(status_of iommu)"
grep -q ' IR-' /proc/interrupts && expected=ok || expected=fail
remap_expected=$expected
same "interrupt-remapping is $expected like the IR- chips in /proc/interrupts" "$expected" "$(status_of interrupt-remapping)"
check "the emulated IOMMU (intremap=on) does remap interrupts" grep -q ' IR-PCI-MSI' /proc/interrupts
same "the remapping chips are named" "$(grep -oE ' IR-[A-Za-z0-9-]+' /proc/interrupts | tr -d ' ' | sort -u | tr '\n' ',' | sed 's/,$//; s/,/, /g')" \
    "$(summary_of interrupt-remapping | sed -E 's/^on \((.*)\)$/\1/')"
same "cmdline is ok with intel_iommu=on" ok "$(status_of cmdline)"
same "cmdline shows intel_iommu=on" "intel_iommu=on" "$(summary_of cmdline)"

# KVM: TCG gives the guest no vmx/svm and no /dev/kvm.
if [ -e /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then expected=ok; else expected=fail; fi
kvm_expected=$expected
same "kvm is $expected like /dev/kvm and the CPU flags" "$expected" "$(status_of kvm)"

# vfio modules: loaded by the init, with the container node.
if [ -d /sys/module/vfio_pci ] && [ -d /sys/module/vfio_iommu_type1 ] && [ -c /dev/vfio/vfio ]; then expected=ok; else expected=warn; fi
vfio_expected=$expected
same "vfio-modules is $expected like /sys/module and /dev/vfio/vfio" "$expected" "$(status_of vfio-modules)"

# Hugepages: none, then 16 reserved for real, then none again.
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
thp=$(sed -E 's/.*\[(.*)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
case "$thp" in always | madvise) expected=ok ;; *) expected=warn ;; esac
same "hugepages is $expected with none reserved and THP '$thp'" "$expected" "$(status_of hugepages)"
echo 16 > $hp
doctor
same "hugepages is ok once 16 pages are reserved" ok "$(status_of hugepages)"
same "hugepages counts the kernel's pages" "16 × 2 MiB reserved ($(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free), 32 MiB in all" \
    "$(summary_of hugepages)"
echo 0 > $hp

# GPUs: one group check, one ROM check and one reset check each, for every display function.
gpus=$(for d in /sys/bus/pci/devices/*; do case "$(cat $d/class)" in 0x03*) echo ${d##*/} ;; esac; done)
same "one group check per display function" "$(echo "$gpus" | wc -l)" "$(jq '[.checks[] | select(.id | startswith("gpu-group:"))] | length' "$json")"
same "the boot VGA ($ati) is a warning" warn "$(status_of "gpu-group:$ati")"
same "the second VGA ($std), alone in its group, is ok" ok "$(status_of "gpu-group:$std")"
for gpu in $gpus; do
    if [ -n "$(cat /sys/bus/pci/devices/$gpu/reset_method 2>/dev/null)" ]; then expected=ok; else expected=warn; fi
    same "reset of $gpu is $expected like its reset_method" "$expected" "$(status_of "reset:$gpu")"
done
installed=$(ls /usr/share/vgabios/1234-1111-*.rom 2>/dev/null | head -n1)
if [ -n "$installed" ]; then
    same "the second VGA's ROM check finds the installed file" ok "$(status_of "rom:$std")"
else
    same "the second VGA's ROM is exposed by the kernel" ok "$(status_of "rom:$std")"
fi
same "the boot VGA's ROM (a shadow copy) is a warning" warn "$(status_of "rom:$ati")"

# Bind the second VGA for real: its group check becomes 'every function on vfio-pci', and goes back after.
if vfioctl bind "$std" > /tmp/bind.out 2> /tmp/bind.err && [ ! -s /tmp/bind.err ]; then
    doctor
    same "after bind, the second VGA's group check is ok" ok "$(status_of "gpu-group:$std")"
    check "after bind, it says every function is on vfio-pci" sh -c "jq -r '.checks[] | select(.id == \"gpu-group:$std\") | .summary' $json | grep -q 'every function on vfio-pci'"
    clean "unbind the second VGA" vfioctl unbind "$std"
else
    not_ok "bind the second VGA exits 0 with nothing on stderr ($(head -c 300 /tmp/bind.err))"
fi

# A ROM file that is not a ROM, installed where libvirt reads ROMs: a failure naming the file.
bad=/usr/share/vgabios/1234-1111-$(echo "$std" | tr ':' '-').rom
[ -f "$bad" ] && cp "$bad" /tmp/saved.rom
mkdir -p /usr/share/vgabios
head -c 4096 /dev/zero > "$bad"
doctor
same "a corrupt installed ROM fails" fail "$(status_of "rom:$std")"
check "the failure names the file" sh -c "jq -r '.checks[] | select(.id == \"rom:$std\") | .summary' $json | grep -qF '$bad'"
if [ -f /tmp/saved.rom ]; then cp /tmp/saved.rom "$bad"; else rm -f "$bad"; fi

# QEMU and libvirt are not in this guest.
if command -v qemu-system-x86_64 > /dev/null && { command -v virtqemud || command -v libvirtd; } > /dev/null; then expected=ok; else expected=fail; fi
libvirt_expected=$expected
same "libvirt is $expected like the installed programs" "$expected" "$(status_of libvirt)"

# qemu.conf: none, then one allowing the chosen keyboard and mouse, then one allowing only the keyboard.
# The devices doctor picks are the machine's USB keyboard and mouse, named by udev's by-id links.
keyboard=$(ls -d /dev/input/by-id/usb-*-event-kbd | head -n1)
mouse=$(ls -d /dev/input/by-id/usb-*-event-mouse | head -n1)
same "evdev-acl warns without a qemu.conf" warn "$(status_of evdev-acl)"
mkdir -p /etc/libvirt
printf 'cgroup_device_acl = [\n  "/dev/null", "/dev/kvm",\n  "%s",\n  "%s"\n]\n' "$keyboard" "$mouse" > /etc/libvirt/qemu.conf
doctor
same "evdev-acl is ok when qemu.conf allows $keyboard and $mouse" ok "$(status_of evdev-acl)"
printf 'cgroup_device_acl = [ "/dev/null", "%s" ]\n' "$keyboard" > /etc/libvirt/qemu.conf
doctor
same "evdev-acl warns when the mouse is missing" warn "$(status_of evdev-acl)"
check "the warning's block keeps the user's entries and libvirt's defaults, and adds the mouse" sh -c \
    "jq -r '.checks[] | select(.id == \"evdev-acl\") | .details[]' $json > /tmp/acl.txt && grep -qF '\"$mouse\"' /tmp/acl.txt && grep -qF '\"$keyboard\"' /tmp/acl.txt && grep -qF '\"/dev/null\"' /tmp/acl.txt && grep -qF '\"/dev/kvm\"' /tmp/acl.txt"
rm -rf /etc/libvirt

# The text screen, judged against the kernel: the status the kernel gives each host-wide check starts its line.
vfioctl doctor > /tmp/doctor.txt 2>/tmp/doctor-text.err
text_status=$?
line_of() { grep -E "^(OK|WARN|FAIL) +$1 " /tmp/doctor.txt | head -n1 | cut -d' ' -f1; }
upper() { echo "$1" | tr 'a-z' 'A-Z'; }
same "the screen says IOMMU, Interrupt remapping, KVM, vfio modules and QEMU and libvirt as the kernel does" \
    "$(upper "$iommu_expected $remap_expected $kvm_expected $vfio_expected $libvirt_expected")" \
    "$(line_of IOMMU) $(line_of 'Interrupt remapping') $(line_of KVM) $(line_of 'vfio modules') $(line_of 'QEMU and libvirt')"
# A check the kernel says fails (no KVM under TCG, no QEMU or libvirt in this guest) makes the exit status 1.
case " $iommu_expected $remap_expected $kvm_expected $libvirt_expected " in *" fail "*) expected=1 ;; *) expected=0 ;; esac
same "the screen exits $expected (the kernel's worst check) with nothing on stderr" "$expected|" "$text_status|$(cat /tmp/doctor-text.err)"
same "every doctor --json run exited $expected with nothing on stderr" \
    "$(sed "s/.*/$expected|/" /tmp/doctor.runs | sort -u)" "$(sort -u /tmp/doctor.runs)"
