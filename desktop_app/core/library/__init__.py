"""The Library: one Qt-free object that owns a library's folders, analysis and decisions, keeps every decision in its
catalogue the moment it is made, and runs the long jobs as generators that the window and the command line both
drive.
"""
