"""The callbacks function (issue 4): reports and the status API, through the handler."""
