/* Pins display/compositor.c: fit-and-letterbox layout, 1:1 copies, that
 * composing touches only damaged pixels, edge, banner and status screens,
 * and screen-to-surface mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compositor.h"

#define SENTINEL 0xff123456u

static uint32_t px(struct compositor *c, int x, int y)
{
	pixman_image_t *img = compositor_shadow(c);

	return pixman_image_get_data(img)[y * pixman_image_get_stride(img) / 4 + x] | 0xff000000u;
}

static void compose(struct compositor *c, pixman_region32_t *done)
{
	pixman_region32_init(done);
	compositor_compose(c, done);
}

static void fill_shadow(struct compositor *c, uint32_t v)
{
	pixman_image_t *img = compositor_shadow(c);

	pixman_fill(pixman_image_get_data(img), pixman_image_get_stride(img) / 4, 32, 0, 0,
		    pixman_image_get_width(img), pixman_image_get_height(img), v);
}

static uint32_t *surface(uint32_t w, uint32_t h, uint32_t rgb)
{
	uint32_t *p = malloc((size_t)w * h * 4);

	for (size_t i = 0; i < (size_t)w * h; i++)
		p[i] = rgb;
	return p;
}

static struct scene guest_scene(const uint32_t *pixels, uint32_t w, uint32_t h)
{
	return (struct scene){ .kind = SCENE_GUEST, .name = "g", .banner = "1: g",
			       .edge_rgb = 0x00ff00, .pixels = pixels, .width = w, .height = h,
			       .stride = w * 4 };
}

static void test_one_to_one_is_an_exact_copy(void **state)
{
	struct compositor *c;
	uint32_t *src = malloc(64 * 48 * 4);
	pixman_region32_t done;
	struct scene s = guest_scene(src, 64, 48);

	(void)state;
	for (int i = 0; i < 64 * 48; i++)
		src[i] = 0xff000000u | (uint32_t)(i * 2654435761u >> 8);
	assert_int_equal(compositor_create(&c, 64, 48, 0), 0);
	assert_int_equal(compositor_set_scene(c, &s), 0);
	compose(c, &done);
	assert_int_equal(pixman_region32_extents(&done)->x2, 64);
	for (int y = 0; y < 48; y++)
		for (int x = 0; x < 64; x++)
			assert_int_equal(px(c, x, y), src[y * 64 + x]);
	pixman_region32_fini(&done);
	compositor_destroy(c);
	free(src);
}

static void test_scaled_and_letterboxed(void **state)
{
	struct compositor *c;
	uint32_t *src = surface(32, 24, 0xffff0000u);
	pixman_region32_t done;
	struct scene s = guest_scene(src, 32, 24);
	int32_t sx, sy;

	(void)state;
	assert_int_equal(compositor_create(&c, 128, 64, 2), 0);
	compositor_set_scene(c, &s);
	compose(c, &done);
	/* 32x24 fits 64 high: 85x64, centred at x = 21 */
	assert_int_equal(px(c, 0, 30), 0xff00ff00u);  /* the edge */
	assert_int_equal(px(c, 10, 30), 0xff000000u); /* letterbox */
	assert_int_equal(px(c, 21, 30), 0xffff0000u);
	assert_int_equal(px(c, 105, 30), 0xffff0000u);
	assert_int_equal(px(c, 106, 30), 0xff000000u);
	compositor_to_surface(c, 0, 0, &sx, &sy);
	assert_true(sx == 0 && sy == 0);
	compositor_to_surface(c, 127, 63, &sx, &sy);
	assert_true(sx == 31 && sy == 23);
	compositor_to_surface(c, 64, 32, &sx, &sy);
	assert_true(sx == 16 && sy == 12);
	pixman_region32_fini(&done);
	compositor_destroy(c);
	free(src);
}

static void test_only_damage_is_redrawn(void **state)
{
	struct compositor *c;
	uint32_t *src = surface(100, 100, 0xff0000ffu);
	pixman_region32_t done;
	struct scene s = guest_scene(src, 100, 100);
	struct display_rect r = { 10, 10, 5, 5 }, last = { 99, 99, 1, 1 };
	pixman_box32_t *e;

	(void)state;
	s.banner = NULL;
	assert_int_equal(compositor_create(&c, 200, 200, 0), 0); /* 2x */
	compositor_set_scene(c, &s);
	compose(c, &done);
	pixman_region32_fini(&done);
	assert_false(compositor_has_damage(c));
	fill_shadow(c, SENTINEL);
	compositor_damage_surface(c, &r);
	compose(c, &done);
	e = pixman_region32_extents(&done);
	/* 10..15 doubled, one pixel wider each way for the filter */
	assert_true(e->x1 == 19 && e->y1 == 19 && e->x2 == 31 && e->y2 == 31);
	assert_int_equal(px(c, 25, 25), 0xff0000ffu);
	assert_int_equal(px(c, 18, 25), SENTINEL);
	assert_int_equal(px(c, 100, 100), SENTINEL);
	pixman_region32_fini(&done);
	/* the surface's last pixel stays inside the picture */
	compositor_damage_surface(c, &last);
	compose(c, &done);
	e = pixman_region32_extents(&done);
	assert_true(e->x2 == 200 && e->y2 == 200 && e->x1 == 197);
	pixman_region32_fini(&done);
	compositor_destroy(c);
	free(src);
}

static void test_banner_damages_only_itself(void **state)
{
	struct compositor *c;
	uint32_t *src = surface(320, 200, 0xff000000u);
	pixman_region32_t done;
	struct scene s = guest_scene(src, 320, 200);
	pixman_box32_t *e;

	(void)state;
	assert_int_equal(compositor_create(&c, 320, 200, 4), 0);
	compositor_set_scene(c, &s);
	compose(c, &done);
	pixman_region32_fini(&done);
	compositor_set_banner(c, 1);
	compose(c, &done);
	e = pixman_region32_extents(&done);
	assert_true(e->y1 == 16 && e->x1 > 100 && e->x2 < 220 && e->y2 < 80);
	/* the banner: the edge colour, alpha 0xe0, over the black picture */
	assert_int_equal(px(c, 160, 18), 0xff00e000u);
	pixman_region32_fini(&done);
	compositor_set_banner(c, 0);
	compose(c, &done);
	assert_int_equal(px(c, 160, 18), 0xff000000u);
	pixman_region32_fini(&done);
	compositor_destroy(c);
	free(src);
}

static void test_status_screens(void **state)
{
	struct compositor *c;
	pixman_region32_t done;
	struct scene s = { .kind = SCENE_STOPPED, .name = "windows", .edge_rgb = 0xff8000 };
	int text = 0;

	(void)state;
	assert_int_equal(compositor_create(&c, 320, 200, 3), 0);
	compose(c, &done); /* SCENE_EMPTY */
	assert_int_equal(px(c, 10, 10), 0xff202020u);
	pixman_region32_fini(&done);
	compositor_set_scene(c, &s);
	compose(c, &done);
	assert_int_equal(px(c, 1, 1), 0xffff8000u);
	assert_int_equal(px(c, 10, 10), 0xff202020u);
	for (int x = 0; x < 320; x++)
		text += px(c, x, 100) != 0xff202020u && px(c, x, 100) != 0xffff8000u;
	assert_true(text > 10);
	pixman_region32_fini(&done);
	compositor_destroy(c);
}

static void test_bad_sizes_refused(void **state)
{
	struct compositor *c;

	(void)state;
	assert_int_equal(compositor_create(&c, 0, 10, 0), -EINVAL);
	assert_int_equal(compositor_create(&c, 10, DISPLAY_MAX_HEIGHT + 1, 0), -EINVAL);
	/* an edge wider than the screen allows is narrowed */
	assert_int_equal(compositor_create(&c, 64, 64, 1000), 0);
	compositor_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_to_one_is_an_exact_copy),
		cmocka_unit_test(test_scaled_and_letterboxed),
		cmocka_unit_test(test_only_damage_is_redrawn),
		cmocka_unit_test(test_banner_damages_only_itself),
		cmocka_unit_test(test_status_screens),
		cmocka_unit_test(test_bad_sizes_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
