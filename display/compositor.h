/* The compositor: turns "what should be on the screen" (a scene: the
 * active guest's surface, or a status screen, plus the banner and the
 * guest's coloured edge) into pixels of a shadow buffer in RAM, redrawing
 * only what was damaged. It knows nothing of sockets or outputs: the
 * display feeds it scenes and damage, and hands the region it redrew to
 * the output. Layout: the guest's picture is scaled to fill the screen
 * with its aspect ratio kept (pixman, bilinear; a plain copy at 1:1) and
 * centred, the rest black (letterbox); the edge is drawn over the outer
 * `edge_width` pixels of the screen; the banner sits at the top centre. */
#ifndef DUET_DISPLAY_COMPOSITOR_H
#define DUET_DISPLAY_COMPOSITOR_H

#include <pixman.h>
#include <stdint.h>

#include "display_proto.h"

enum scene_kind {
	SCENE_EMPTY,    /* no guest has connected yet */
	SCENE_GUEST,    /* the guest's surface */
	SCENE_WAITING,  /* connected, no surface yet */
	SCENE_STOPPED,  /* its connection went away */
};

struct scene {
	enum scene_kind kind;
	const char *name;       /* the guest's name (not for SCENE_EMPTY) */
	const char *banner;     /* the banner's text */
	uint32_t edge_rgb;      /* 0xRRGGBB */
	/* SCENE_GUEST: the surface, XRGB8888; read, never written */
	const void *pixels;
	uint32_t width, height, stride;
};

struct compositor;

/* compositor_create: a width x height shadow (both 1..DISPLAY_MAX_*),
 * showing SCENE_EMPTY. */
int compositor_create(struct compositor **out, unsigned width, unsigned height,
		      unsigned edge_width);
void compositor_destroy(struct compositor *c);

/* compositor_set_scene: show `s` from the next compose on (all of the
 * screen is damaged). The strings and pixels must stay valid until the
 * next compositor_set_scene. -ENOMEM leaves the old scene. */
int compositor_set_scene(struct compositor *c, const struct scene *s);

/* compositor_set_banner: show or hide the banner of the current scene. */
void compositor_set_banner(struct compositor *c, int visible);

/* compositor_damage_surface: a rectangle of the SCENE_GUEST surface
 * changed (already checked to lie inside it). */
void compositor_damage_surface(struct compositor *c, const struct display_rect *r);
void compositor_damage_all(struct compositor *c);
int compositor_has_damage(const struct compositor *c);

/* compositor_compose: redraw what is damaged into the shadow; `done` (an
 * initialised region) is set to what was redrawn. */
void compositor_compose(struct compositor *c, pixman_region32_t *done);

pixman_image_t *compositor_shadow(const struct compositor *c);

/* compositor_to_surface: the surface pixel under screen pixel (x, y),
 * clamped into the surface; 0, 0 when no surface is shown. */
void compositor_to_surface(const struct compositor *c, int x, int y, int32_t *sx, int32_t *sy);

#endif
