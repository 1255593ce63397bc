"""The default coin universe: 24 coins at plausible AUD prices, from BTC to SHIB and PEPE.

Volatility is per tick (one tick stands for five minutes); stablecoins barely move and
memecoins move most. SHIB and PEPE sit near 0.00001 AUD to exercise Decimal precision.
"""

from decimal import Decimal

from app.exchange.simulator.config import CoinSpec


def _coin(symbol: str, price: str, volatility: float, spread: str) -> CoinSpec:
    return CoinSpec(
        symbol=symbol, price=Decimal(price), volatility=volatility, spread=Decimal(spread)
    )


DEFAULT_COINS: tuple[CoinSpec, ...] = (
    _coin("BTC", "150000", 0.0018, "0.004"),
    _coin("ETH", "5200", 0.0025, "0.004"),
    _coin("XRP", "3.40", 0.0035, "0.006"),
    _coin("SOL", "290", 0.0035, "0.006"),
    _coin("DOGE", "0.36", 0.0045, "0.008"),
    _coin("SHIB", "0.00002134", 0.005, "0.01"),
    _coin("PEPE", "0.00001789", 0.006, "0.012"),
    _coin("ADA", "1.25", 0.0035, "0.006"),
    _coin("LTC", "160", 0.003, "0.006"),
    _coin("DOT", "11.20", 0.0035, "0.008"),
    _coin("LINK", "33.50", 0.0035, "0.008"),
    _coin("AVAX", "52.10", 0.004, "0.008"),
    _coin("POL", "0.62", 0.004, "0.01"),
    _coin("TRX", "0.41", 0.0025, "0.008"),
    _coin("XLM", "0.63", 0.0035, "0.008"),
    _coin("BCH", "720", 0.003, "0.008"),
    _coin("ATOM", "9.80", 0.0035, "0.01"),
    _coin("UNI", "16.40", 0.004, "0.01"),
    _coin("AAVE", "410", 0.004, "0.01"),
    _coin("ALGO", "0.42", 0.004, "0.01"),
    _coin("NEAR", "7.30", 0.004, "0.01"),
    _coin("BNB", "1050", 0.002, "0.006"),
    _coin("USDT", "1.54", 0.0002, "0.002"),
    _coin("USDC", "1.54", 0.0002, "0.002"),
)
