"""What the cash voucher networks (Efecty, OXXO) share in the sandbox.

A voucher is issued to a payer, who pays it in cash at a shop before it expires; the
network confirms the payment some time later and notifies the merchant of final states
only. The machinery is the same for both networks: the records (:mod:`.records`), the
magic values of the payer's document (:mod:`.scenarios`), the store with the timed steps
and notifications (:mod:`.store`), the admin routes (:mod:`.admin`), the printable
voucher (:mod:`.receipts`) and ``payments sandbox pay-voucher`` (:mod:`.cli`). Each
network's folder (``sandbox/efecty``, ``sandbox/oxxo``) holds its wire shapes and API.
"""
