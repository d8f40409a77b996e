//! Reading ELF files with goblin (being written).
