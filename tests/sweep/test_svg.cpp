// SPDX-License-Identifier: MIT
// The SVG charts: well-formed XML, one group per series with the right number of drawn points, escaping.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "sweep/svg.hpp"
#include "xml_check.hpp"

namespace {

using namespace srr::sweep;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Svg, NumericChartIsWellFormedWithExpectedSeries) {
  Chart c{"Perplexity <vs> rank & \"more\"", "rank r", "perplexity", {}, {}};
  c.series.push_back({"qer scale=lqer", {4, 8, 16}, {12.0, 10.3, 9.1}, {0.1, 0.0, 0.2}, false});
  c.series.push_back({"srr <&>", {4, 8, 16}, {10.0, kNaN, 8.0}, {}, false});  // NaN is not drawn
  c.series.push_back({"fp32", {4, 16}, {4.48, 4.48}, {}, true});
  c.series.push_back({"failed everywhere", {4}, {kNaN}, {}, false});
  const std::string svg = render_svg(c);
  std::string why;
  EXPECT_TRUE(xml_well_formed(svg, &why)) << why;
  EXPECT_EQ(count(svg, "<g class=\"series\""), 4u);
  EXPECT_EQ(series_points(svg), (std::vector<std::pair<std::string, int>>{
                                    {"qer scale=lqer", 3}, {"srr &lt;&amp;&gt;", 2}, {"fp32", 2}, {"failed everywhere", 0}}));
  EXPECT_EQ(count(svg, "<circle"), 7u);
  EXPECT_EQ(count(svg, "stroke-dasharray"), 2u);  // the reference line and its legend entry
  EXPECT_NE(svg.find("Perplexity &lt;vs&gt; rank &amp; &quot;more&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("srr <&>"), std::string::npos);
  // every legend entry is there, drawn or not
  EXPECT_NE(svg.find(">failed everywhere</text>"), std::string::npos);
  // error bars: only positive finite errors draw a line (0.1 and 0.2)
  const std::string series0 = svg.substr(svg.find("data-name=\"qer"), svg.find("data-name=\"srr") - svg.find("data-name=\"qer"));
  EXPECT_EQ(count(series0, "<line"), 2u);
}

TEST(Svg, CategoricalChart) {
  Chart c{"win-rate", "scale", "%", {"identity", "lqer", "qera-approx", "qera-exact"}, {}};
  c.series.push_back({"rank=4", {0, 1, 2, 3}, {80, 85, 90, 95}, {1, 2, 3, 4}, false});
  c.series.push_back({"rank=8", {0, 1, 2, 3}, {70, kNaN, 60, 65}, {}, false});
  const std::string svg = render_svg(c);
  std::string why;
  EXPECT_TRUE(xml_well_formed(svg, &why)) << why;
  EXPECT_EQ(series_points(svg), (std::vector<std::pair<std::string, int>>{{"rank=4", 4}, {"rank=8", 3}}));
  for (const char* cat : {">identity<", ">lqer<", ">qera-approx<", ">qera-exact<"})
    EXPECT_NE(svg.find(cat), std::string::npos) << cat;
}

TEST(Svg, DegenerateRangesStillRender) {
  Chart one{"one point", "x", "y", {}, {{"s", {3}, {5}, {}, false}}};
  Chart empty{"nothing", "x", "y", {}, {}};
  Chart flat{"flat", "x", "y", {}, {{"s", {1, 2}, {0, 0}, {}, false}}};
  for (const auto& c : {one, empty, flat}) {
    const std::string svg = render_svg(c);
    std::string why;
    EXPECT_TRUE(xml_well_formed(svg, &why)) << c.title << ": " << why;
    EXPECT_EQ(svg.find("nan"), std::string::npos) << c.title;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << c.title;
  }
}

TEST(Svg, CheckerRejectsBrokenXml) {
  std::string why;
  EXPECT_FALSE(xml_well_formed("<svg><g></svg>", &why));
  EXPECT_FALSE(xml_well_formed("<svg a=\"1 & 2\"/>", &why));
  EXPECT_FALSE(xml_well_formed("<svg>a < b</svg>", &why));
  EXPECT_FALSE(xml_well_formed("<svg/><svg/>", &why));
  EXPECT_TRUE(xml_well_formed("<?xml version=\"1.0\"?>\n<svg x='1'><g>&amp;<br/></g></svg>\n", &why)) << why;
}

}  // namespace
