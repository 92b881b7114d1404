"""What the long connections of every platform share: the reconnect loop, back-off, lease.

Each platform's own connection lives in its package (wecom/longconn.py, dingtalk/stream.py).
"""
