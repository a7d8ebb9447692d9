"""The replica process: snapshot chain of sparse files, data and control servers."""
