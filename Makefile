# vfioctl: build, test and install. `make install PREFIX=/usr/local` installs the binary, its shell
# completions and man pages.
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
BIN := .build/release/vfioctl
GEN := .build/generated

.PHONY: all build test list install uninstall completions man bench clean

all: build

build:
	$(SWIFT) build -c release --static-swift-stdlib

list: build
	$(BIN) list

test:
	scripts/test

completions: build
	mkdir -p $(GEN)/completions
	$(BIN) --generate-completion-script bash > $(GEN)/completions/vfioctl.bash
	$(BIN) --generate-completion-script zsh > $(GEN)/completions/_vfioctl
	$(BIN) --generate-completion-script fish > $(GEN)/completions/vfioctl.fish

man:
	rm -rf $(GEN)/man && mkdir -p $(GEN)/man
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --multi-page \
		--configuration debug --authors "vfioctl developers" --output-directory $(GEN)/man

install: build completions man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 -s $(BIN) $(DESTDIR)$(PREFIX)/bin/vfioctl
	install -m 0644 $(GEN)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(GEN)/completions/vfioctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vfioctl
	install -m 0644 $(GEN)/completions/_vfioctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vfioctl
	install -m 0644 $(GEN)/completions/vfioctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vfioctl.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/vfioctl $(DESTDIR)$(PREFIX)/share/man/man1/vfioctl*.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/vfioctl \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vfioctl \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vfioctl.fish

bench: build
	bench/list-bench

clean:
	rm -rf .build
