# vfioctl: build, test and install. `make install PREFIX=/usr/local` installs the binary, its manual page and its
# shell completions; `make dist` makes an archive that installs them on a host without Swift.
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
BIN := .build/release/vfioctl
VERSION := $(shell sed -n 's/.*static let version = "\(.*\)"/\1/p' Sources/vfioctl/VFIOCtl.swift)
DIST := .build/vfioctl-$(VERSION)-$(shell uname -m)

.PHONY: all build test list install uninstall dist bench clean

all: build

build:
	$(SWIFT) build -c release --static-swift-stdlib

list: build
	$(BIN) list

test:
	scripts/test

# The binary writes its manual page and completions itself (scripts/install), so installing needs no Swift.
install: build
	scripts/install --prefix $(PREFIX) $(if $(DESTDIR),--destdir $(DESTDIR)) --binary $(BIN)

uninstall:
	scripts/install --prefix $(PREFIX) $(if $(DESTDIR),--destdir $(DESTDIR)) --uninstall

# An archive for hosts without Swift: unpack it there and run `sudo ./install`.
dist: build
	rm -rf $(DIST) && mkdir -p $(DIST)
	install -m 0755 -s $(BIN) $(DIST)/vfioctl
	install -m 0755 scripts/install $(DIST)/install
	install -m 0644 README.md $(DIST)/README.md
	tar -C .build -czf .build/$(notdir $(DIST)).tar.gz $(notdir $(DIST))
	@echo ".build/$(notdir $(DIST)).tar.gz"

bench: build
	bench/list-bench

clean:
	rm -rf .build
